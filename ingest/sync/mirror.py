"""A remote source's local copy: ``<files_dir>/sources/<name>/``, written one object at a time
(a hidden ``.partial`` file renamed into place, so a killed worker leaves no half file), which
the sync then ingests like a folder."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rag.config import Settings
from rag.errors import InvalidInputError

MIRRORS = "sources"
PARTIAL = ".partial"
MAX_OBJECTS = 100_000
"""Objects one sync lists at most; the rest are reported, not synced."""


class SourceError(InvalidInputError):
    """A source could not be reached or read as a whole (credentials, endpoint, bucket, a
    secrets file): what to fix is in the source's configuration or its server."""

    code = "source_error"


@dataclass
class Fetched:
    """What one fetch did to the mirror."""

    fetched: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: list[str] = field(default_factory=list)


def mirrors_dir(settings: Settings) -> Path:
    return Path(settings.files_dir) / MIRRORS


def mirror_dir(settings: Settings, name: str) -> Path:
    return mirrors_dir(settings) / name


def safe_relative(key: str) -> PurePosixPath | None:
    """``key`` as a relative path inside the mirror, or ``None`` when it cannot be one (empty
    parts, ``..``, a NUL, an absolute path, too long)."""
    if not key or "\x00" in key or key.startswith("/") or len(key) > 1024:
        return None
    parts = key.split("/")
    if any(part in ("", ".", "..") or len(part.encode()) > 255 for part in parts):
        return None
    if parts[0] == PARTIAL:
        return None
    return PurePosixPath(*parts)


def write_object(mirror: Path, rel: PurePosixPath, chunks: object) -> int:
    """Write ``chunks`` (an iterable of bytes) to ``mirror/rel`` through a partial file;
    returns the size."""
    partial = mirror / PARTIAL
    partial.mkdir(parents=True, exist_ok=True)
    temp = partial / f"{os.getpid()}-{abs(hash(rel))}"
    size = 0
    with open(temp, "wb") as handle:
        for chunk in chunks:  # type: ignore[attr-defined]
            handle.write(chunk)
            size += len(chunk)
    target = mirror / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, target)
    return size


def remove_object(mirror: Path, rel: PurePosixPath) -> None:
    """Delete ``mirror/rel`` and the folders it leaves empty."""
    target = mirror / rel
    target.unlink(missing_ok=True)
    folder = target.parent
    while folder != mirror:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def drop_mirror(settings: Settings, name: str) -> None:
    shutil.rmtree(mirror_dir(settings, name), ignore_errors=True)

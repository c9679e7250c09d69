"""Which source reads a path: a folder or a manifest; anything else is refused up front."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ingest.folder import folder_source
from ingest.items import Source
from ingest.manifest import manifest_source
from ingest.records import RECORD_SUFFIXES
from rag.errors import InvalidInputError
from rag.safe_open import open_beneath


def check_path(path: Path) -> None:
    """Raise :class:`InvalidInputError` unless ``path`` is a folder or a manifest file."""
    if path.is_dir():
        return
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist; give a folder or a manifest file")
    if not path.is_file() or path.suffix.lower() not in RECORD_SUFFIXES:
        raise InvalidInputError(
            f"{path} is neither a folder nor a manifest ({', '.join(RECORD_SUFFIXES)})"
        )


def open_source(path: Path, roots: Sequence[str | Path] | None = None) -> Source:
    """The items of a folder or a manifest file.

    ``roots`` (server paths): ``path`` must lie under one of these folders, reached from it
    without a symlink in any component; checked here, when the worker opens the path, and every
    file of the source is then opened from that root the same way. ``None``: a local user's
    path, trusted as it is (symlinks in it resolved).
    """
    if roots is None:
        check_path(path)
        return folder_source(path) if path.is_dir() else manifest_source(path)
    anchor, is_dir = _anchor(path, [Path(os.path.realpath(root)) for root in roots])
    if not is_dir and path.suffix.lower() not in RECORD_SUFFIXES:
        raise InvalidInputError(
            f"{path} is neither a folder nor a manifest ({', '.join(RECORD_SUFFIXES)})"
        )
    return folder_source(path, anchor) if is_dir else manifest_source(path, anchor)


def _anchor(path: Path, roots: list[Path]) -> tuple[Path, bool]:
    """The root ``path`` lies under, and whether it is a folder (opened to check, then closed)."""
    normal = Path(os.path.normpath(path))
    under = [root for root in roots if normal.is_absolute() and normal.is_relative_to(root)]
    if not under:
        named = ", ".join(str(root) for root in roots) or "none are configured"
        raise InvalidInputError(f"{path} is outside the ingest roots ({named})")
    anchor = max(under, key=lambda root: len(root.parts))
    fd = open_beneath(anchor, normal, "any")
    try:
        return anchor, stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)

"""Serve a file a payload names (an item's picture, a document's original) without trusting it.

A payload path is checked when it is served, not when it was ingested: the file may have been
swapped for a symlink since. Only a regular file is served, reached without any symlink, under
one of the allowed folders (the item's own ingest root, the upload folder, the data folder).

Example::

    return served_file(payload[keys.IMAGE_PATH], allowed_roots(settings, payload), mime)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.responses import StreamingResponse

from rag import payload as keys
from rag.config import Settings
from rag.errors import NotFoundError

CHUNK = 64 * 1024


def allowed_roots(settings: Settings, payload: dict[str, Any]) -> list[Path]:
    """Folders a point's files may lie under: its ingest root (a manifest's folder), the
    data folder and the shared files folder (uploads, page renders, figure crops)."""
    roots = [Path(settings.data_dir), Path(settings.files_dir)]
    source_root = payload.get(keys.SOURCE_ROOT)
    if isinstance(source_root, str) and os.path.isabs(source_root):
        root = Path(source_root)
        roots.append(root.parent if root.suffix.lower() in (".jsonl", ".csv") else root)
    return [Path(os.path.realpath(root)) for root in roots]


def open_checked(stored: str, roots: list[Path], what: str = "file") -> int:
    """An open descriptor of ``stored``, or NotFoundError (404) when it is not safe to serve."""
    path = Path(stored)
    gone = NotFoundError(f"the {what} is gone or not servable; re-ingest the item")
    if not path.is_absolute() or os.path.realpath(path) != os.path.normpath(path):
        raise gone  # relative, or a symlink somewhere along the way
    if not any(path.is_relative_to(root) for root in roots):
        raise gone
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise gone from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise gone
    return fd


def served_file(
    stored: str,
    roots: list[Path],
    media_type: str | None,
    what: str = "file",
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """Stream ``stored`` after :func:`open_checked` (the checked descriptor is what is read)."""
    fd = open_checked(stored, roots, what)
    size = os.fstat(fd).st_size
    return StreamingResponse(
        _chunks(fd, size),
        media_type=media_type or "application/octet-stream",
        headers={**(headers or {}), "Content-Length": str(size)},
    )


def _chunks(fd: int, size: int) -> Iterator[bytes]:
    """At most ``size`` bytes (the declared length), even if the file grows meanwhile."""
    with os.fdopen(fd, "rb") as handle:
        left = size
        while left > 0 and (chunk := handle.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk

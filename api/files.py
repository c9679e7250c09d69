"""Serve a file a payload names (an item's picture, a document's original) without trusting it.

A payload path is checked when it is served, not when it was ingested: the file may have been
swapped for a symlink since. Only a regular file is served, reached without any symlink (each
component opened from its parent's descriptor, :mod:`rag.safe_open`), under one of the allowed
folders (the item's own ingest root, the upload folder, the data folder).

Example::

    return served_file(payload[keys.IMAGE_PATH], allowed_roots(settings, payload), mime)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.responses import StreamingResponse

from rag.config import Settings
from rag.errors import InvalidInputError, NotFoundError
from rag.safe_open import open_under, stored_file_roots

CHUNK = 64 * 1024


def allowed_roots(settings: Settings, payload: dict[str, Any]) -> list[Path]:
    """Folders a point's files may lie under: its ingest root (a manifest's folder), the
    data folder and the shared files folder (uploads, page renders, figure crops)."""
    return stored_file_roots([settings.data_dir, settings.files_dir], payload)


def open_checked(stored: str, roots: list[Path], what: str = "file") -> int:
    """An open descriptor of ``stored``, or NotFoundError (404) when it is not safe to serve:
    :func:`rag.safe_open.open_under` (no symlink in any component below its root)."""
    try:
        return open_under(stored, roots)
    except (InvalidInputError, OSError):
        raise NotFoundError(f"the {what} is gone or not servable; re-ingest the item") from None


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

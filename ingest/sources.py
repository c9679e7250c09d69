"""Which source reads a path: a folder or a manifest; anything else is refused up front."""

from __future__ import annotations

from pathlib import Path

from ingest.folder import folder_source
from ingest.items import Source
from ingest.manifest import manifest_source
from ingest.records import RECORD_SUFFIXES
from rag.errors import InvalidInputError


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


def open_source(path: Path) -> Source:
    """The items of a folder or a manifest file."""
    check_path(path)
    return folder_source(path) if path.is_dir() else manifest_source(path)

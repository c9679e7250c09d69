"""Reading a picture the user names on the command line (``mmrag classify``, ``mmrag moderate``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.config import Settings


def load_image(path: Path, settings: Settings) -> Any:
    """The picture at ``path``, decoded within ``MMRAG_INGEST__MAX_IMAGE_PIXELS``; an
    ``InvalidInputError`` that says why when it cannot be read or decoded."""
    from ingest.images import decode_image
    from rag.errors import InvalidInputError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from None
    return decode_image(data, settings.ingest.max_image_pixels).image

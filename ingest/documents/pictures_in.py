"""Embedded pictures (DOCX, PPTX, HTML, Markdown) decoded with the same checks as image items."""

from __future__ import annotations

from PIL import Image

from ingest.documents.model import ReadLimits
from ingest.images import decode_image
from rag.errors import InvalidInputError


def figure_image(data: bytes, limits: ReadLimits) -> Image.Image | None:
    """The picture, or ``None`` when it is too small to be a figure.

    Raises :class:`InvalidInputError` when the bytes are no usable image."""
    decoded = decode_image(data, limits.max_image_pixels)
    if decoded.width * decoded.height < limits.min_figure_pixels:
        return None
    return decoded.image


def try_figure(data: bytes, limits: ReadLimits, notes: list[str], what: str) -> Image.Image | None:
    """:func:`figure_image`, a bad picture noted instead of raised."""
    try:
        return figure_image(data, limits)
    except InvalidInputError as exc:
        notes.append(f"{what} skipped: {exc}")
        return None

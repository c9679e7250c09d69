"""Embedded pictures (DOCX, PPTX, HTML, Markdown), checked like image items from their headers
and counted against the document's :class:`~ingest.pixels.FigureBudget` before any decoding."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from ingest.documents.model import ReadLimits
from ingest.images import decode_image, probe_image
from ingest.pixels import FigureBudget
from rag.errors import InvalidInputError

Loader = Callable[[], Image.Image]


def figure_loader(data: bytes, limits: ReadLimits, budget: FigureBudget) -> Loader | None:
    """What decodes the picture in ``data`` when called, or ``None`` when it is too small to be
    a figure or does not fit the budget (counted there). Only the header is read here; the
    caller has asked ``budget.room()`` first.

    Raises :class:`InvalidInputError` when the header is no usable image."""
    header = probe_image(data, limits.max_image_pixels)
    pixels = header.width * header.height
    if pixels < limits.min_figure_pixels or not budget.take(pixels):
        return None
    max_pixels = limits.max_image_pixels
    return lambda: decode_image(data, max_pixels).image


def try_figure(
    data: bytes, limits: ReadLimits, budget: FigureBudget, notes: list[str], what: str
) -> Loader | None:
    """:func:`figure_loader`, a bad picture noted instead of raised."""
    try:
        return figure_loader(data, limits, budget)
    except InvalidInputError as exc:
        notes.append(f"{what} skipped: {exc}")
        return None

"""Turn request bytes (uploads, base64, data URLs) into checked PIL images for queries.

Decoding is :func:`ingest.images.decode_image` (the same allow-list, pixel cap and bomb checks
as ingest); every failure is an :class:`InvalidInputError` (400) that names the input. A request
of several pictures goes through :func:`decode_pictures`: every header is read and the pixels
summed against ``MMRAG_INGEST__MAX_DECODED_PIXELS`` (413 past it) before the first is decoded.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence

from PIL import Image

from ingest.images import decode_image as decode_checked
from ingest.images import probe_image
from ingest.pixels import PixelBudget
from rag.config import IngestSettings
from rag.errors import InvalidInputError

Sent = tuple[str, bytes]
"""A picture of a request: the name errors call it by (a field or file name), its bytes."""

_DATA_URL = re.compile(r"^data:[^,]*?;base64,(?P<data>.*)$", re.S | re.I)


def decode_image(data: bytes, max_pixels: int, name: str = "image") -> Image.Image:
    """The RGB image in ``data``; raise InvalidInputError for empty, corrupt or too large input."""
    try:
        return decode_checked(data, max_pixels).image
    except InvalidInputError as exc:
        raise InvalidInputError(f"{name}: {exc}") from None


def check_pictures(pictures: Sequence[Sent], settings: IngestSettings) -> None:
    """Read every picture's header (format, size, decompression bomb: 400) and sum their pixels
    against the request's budget (413), decoding nothing."""
    budget = PixelBudget(settings.max_decoded_pixels)
    for name, data in pictures:
        try:
            header = probe_image(data, settings.max_image_pixels)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: {exc}") from None
        budget.charge(header.width * header.height, name)


def decode_pictures(pictures: Sequence[Sent], settings: IngestSettings) -> Iterator[Image.Image]:
    """:func:`check_pictures`, then each picture decoded as it is iterated: a caller that drops
    each one before taking the next holds one decoded picture at a time."""
    check_pictures(pictures, settings)
    for name, data in pictures:
        yield decode_image(data, settings.max_image_pixels, name)


def decode_base64(text: str, name: str = "image") -> bytes:
    """The bytes of base64 ``text``, which may be a ``data:<mime>;base64,`` URL."""
    match = _DATA_URL.match(text.strip())
    payload = "".join((match.group("data") if match else text).split())
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            f"{name} is not valid base64 (send the file's bytes base64-encoded, or a "
            "'data:image/png;base64,...' URL)"
        ) from None


def decode_base64_image(text: str, max_pixels: int, name: str = "image") -> Image.Image:
    """The image in base64 ``text`` or a data URL, checked like :func:`decode_image`."""
    return decode_image(decode_base64(text, name), max_pixels, name)

"""Turn request bytes (uploads, base64, data URLs) into checked PIL images for queries.

Every failure is an :class:`InvalidInputError` (400) that names the input; images past the pixel
cap are refused from their header, before the pixels are decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

from PIL import Image, UnidentifiedImageError

from rag.errors import InvalidInputError

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,]*)?;base64,(?P<data>.*)$", re.S)


def decode_image(data: bytes, max_pixels: int, name: str = "image") -> Image.Image:
    """The RGB image in ``data``; raise InvalidInputError for empty, corrupt or too large input."""
    if not data:
        raise InvalidInputError(f"{name} is empty (0 bytes)")
    image = _open(data, name)
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidInputError(
            f"{name} has {width}x{height} pixels, more than the cap of {max_pixels} "
            "(MMRAG_INGEST__MAX_IMAGE_PIXELS); send a smaller picture"
        )
    try:
        image.load()
        return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(f"{name} is truncated or corrupt ({exc})") from None


def _open(data: bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(
            f"{name} is not a readable image (PNG, JPEG, WebP, GIF, BMP, TIFF): {exc}"
        ) from None
    except Image.DecompressionBombError as exc:
        raise InvalidInputError(f"{name} is too large to decode: {exc}") from None


def decode_base64(text: str, name: str = "image") -> bytes:
    """The bytes of base64 ``text``, which may be a ``data:<mime>;base64,`` URL."""
    match = _DATA_URL.match(text.strip())
    payload = match.group("data") if match else text
    payload = "".join(payload.split())
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

"""Decoding untrusted image bytes: an allow-list of formats, a pixel cap, the first frame only."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

from rag.errors import InvalidInputError

T = TypeVar("T")

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
"""Pillow formats an image may have, whatever its file extension says (JPEG includes MPO)."""

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)
"""File extensions (lower case) that make a file in a folder an image item."""

_EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
}


@dataclass(frozen=True)
class DecodedImage:
    """The first frame as RGB, and what the payload records about the file."""

    image: Image.Image
    format: str
    mime: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        """The usual file extension of the real format (``jpg``, ``png``…)."""
        return _EXTENSIONS[self.format]


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels."""

    format: str
    mode: str
    mime: str
    width: int
    height: int


def decode_image(data: bytes, max_pixels: int, draft_side: int | None = None) -> DecodedImage:
    """Decode ``data`` or raise :class:`InvalidInputError` saying why it is unusable.

    Rejects empty, corrupt and truncated data, formats outside :data:`ALLOWED_FORMATS`, images of
    more than ``max_pixels`` pixels and anything Pillow flags as a decompression bomb.
    ``draft_side``: a JPEG may be decoded at a reduced scale (1/2 to 1/8, DCT-domain) as long as
    both sides stay at least this long; width and height still report the file's full size.
    """
    return _checked(data, lambda: _decode(data, max_pixels, draft_side))


def probe_image(data: bytes, max_pixels: int) -> ImageHeader:
    """The header of ``data``, checked as :func:`decode_image` checks it, pixels left encoded
    (ingest's GPU path decodes JPEGs on the device). Data broken past its header passes here."""
    return _checked(data, lambda: _probe(data, max_pixels))


def _checked(data: bytes, step: Callable[[], T]) -> T:
    if not data:
        raise InvalidInputError("empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return step()
        except InvalidInputError:
            raise
        except UnidentifiedImageError:
            raise InvalidInputError(
                "not a supported image (JPEG, PNG, WebP, GIF, BMP or TIFF)"
            ) from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise InvalidInputError(f"decompression bomb: {exc}") from None
        except Exception as exc:  # Pillow raises many types on broken data
            raise InvalidInputError(f"corrupt or truncated image: {exc}") from None


def _decode(data: bytes, max_pixels: int, draft_side: int | None) -> DecodedImage:
    with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as opened:
        width, height = _capped_size(opened, max_pixels)
        opened.seek(0)
        if draft_side and opened.format == "JPEG":
            opened.draft("RGB", (draft_side, draft_side))
        rgb = opened.convert("RGB")
        rgb.load()
        fmt = str(opened.format)
    return DecodedImage(rgb, fmt, _mime(fmt), width, height)


def _probe(data: bytes, max_pixels: int) -> ImageHeader:
    with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as opened:
        width, height = _capped_size(opened, max_pixels)
        fmt = str(opened.format)
        return ImageHeader(fmt, opened.mode, _mime(fmt), width, height)


def _capped_size(opened: Image.Image, max_pixels: int) -> tuple[int, int]:
    width, height = opened.size
    if width * height > max_pixels:
        raise InvalidInputError(
            f"image is {width}x{height} = {width * height} pixels, over the cap of "
            f"{max_pixels} (MMRAG_INGEST__MAX_IMAGE_PIXELS)"
        )
    return width, height


def _mime(fmt: str) -> str:
    return Image.MIME.get(fmt, "image/" + fmt.lower())

"""Pictures for MCP results: an item's picture read as the picture route reads it, downscaled and
bounded in count and bytes, so a tool result never carries more than a client can take.

Example::

    budget = PictureBudget(count=4)
    picture = read_picture(settings, payload, budget)  # None when absent, unreadable or over budget
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from typing import Any

from PIL import Image

from api.files import allowed_roots, open_checked
from api.images import decode_image
from rag import payload as keys
from rag.config import Settings
from rag.errors import MmragError

log = logging.getLogger(__name__)

MAX_PICTURES = 8
"""Most pictures one tool result carries."""
DEFAULT_PICTURES = 4
SIDE = 512
"""Longest side of a picture in a tool result, in pixels."""
PICTURE_BYTES = 256 * 1024
"""Most bytes of one picture in a tool result (encoded, before base64)."""
RESULT_BYTES = 1024 * 1024
"""Most bytes of every picture of one tool result together."""
RESOURCE_SIDE = 1600
RESOURCE_BYTES = 2 * 1024 * 1024
"""The bounds of a picture read as a resource (``mmrag://items/{id}/picture``)."""
_FILE_BYTES = 64 * 1024 * 1024
"""A stored picture larger than this is not read."""
_KEPT_AS_IS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


@dataclass(frozen=True)
class Picture:
    """Encoded picture bytes and their MIME type."""

    data: bytes
    mime: str


@dataclass
class PictureBudget:
    """How many pictures, and how many bytes of them, a result may still take."""

    count: int = DEFAULT_PICTURES
    bytes: int = RESULT_BYTES
    side: int = SIDE
    per_picture: int = PICTURE_BYTES

    def take(self, picture: Picture) -> bool:
        """Whether ``picture`` fits; if so it is counted."""
        if self.count <= 0 or len(picture.data) > min(self.bytes, self.per_picture):
            return False
        self.count -= 1
        self.bytes -= len(picture.data)
        return True


def read_picture(
    settings: Settings, payload: dict[str, Any], budget: PictureBudget
) -> Picture | None:
    """The point's picture (its image, page render or figure crop) fitted to ``budget``; ``None``
    when it has none, its file is not servable (the checks of ``GET /v1/items/{id}/image``) or
    the budget is spent."""
    stored = payload.get(keys.IMAGE_PATH)
    if not stored or budget.count <= 0:
        return None
    try:
        data = read_stored(settings, payload)
        picture = fitted(data, settings.ingest.max_image_pixels, budget.side, budget.per_picture)
    except (MmragError, OSError) as exc:
        log.info("picture %s left out: %s", stored, exc)
        return None
    return picture if picture is not None and budget.take(picture) else None


def fitted(data: bytes, max_pixels: int, side: int, max_bytes: int) -> Picture | None:
    """``data`` as it is when it is small enough, else downscaled to ``side`` and re-encoded
    (JPEG, PNG where it has transparency) until it fits ``max_bytes``; ``None`` if it never does."""
    with Image.open(io.BytesIO(data)) as probe:
        kind, size = probe.format, probe.size
    if kind in _KEPT_AS_IS and max(size) <= side and len(data) <= max_bytes:
        return Picture(data, _KEPT_AS_IS[kind])
    image = decode_image(data, max_pixels, "picture")
    while side >= 64:
        encoded = _encoded(image, side)
        if len(encoded.data) <= max_bytes:
            return encoded
        side //= 2
    return None


def _encoded(image: Image.Image, side: int) -> Picture:
    small = image.copy()
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    if small.mode in ("RGBA", "LA", "P"):
        small.save(buffer, format="PNG", optimize=True)
        return Picture(buffer.getvalue(), "image/png")
    small.convert("RGB").save(buffer, format="JPEG", quality=85)
    return Picture(buffer.getvalue(), "image/jpeg")


def read_stored(settings: Settings, payload: dict[str, Any], what: str = "picture") -> bytes:
    """The bytes of the point's picture file, opened as ``GET /v1/items/{id}/image`` opens it
    (:func:`api.files.open_checked`: no symlink, a regular file under the allowed folders)."""
    stored = str(payload.get(keys.IMAGE_PATH) or "")
    fd = open_checked(stored, allowed_roots(settings, payload), what)
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > _FILE_BYTES:
            raise OSError(f"larger than {_FILE_BYTES} bytes")
        return handle.read(_FILE_BYTES + 1)

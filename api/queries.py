"""What search, chat and the compatible endpoints share: checked questions, images and filters."""

from __future__ import annotations

from PIL import Image

from api.images import decode_base64_image
from rag.config import Settings
from rag.errors import InvalidInputError
from rag.retrieval.filters import parse_filter
from rag.store.base import Filter


def check_question(text: str | None, settings: Settings, name: str = "text") -> str | None:
    """``text`` stripped (``None`` when blank); 400 past ``MMRAG_API__MAX_QUESTION_CHARS``."""
    if text is None or not text.strip():
        return None
    cap = settings.api.max_question_chars
    if len(text) > cap:
        raise InvalidInputError(
            f"{name} has {len(text)} characters, more than the cap of {cap} "
            "(MMRAG_API__MAX_QUESTION_CHARS); shorten it"
        )
    return text.strip()


def query_image(encoded: str | None, settings: Settings, name: str = "image") -> Image.Image | None:
    """The image of base64 text or a data URL, checked against the pixel cap; ``None`` if absent."""
    if not encoded:
        return None
    return decode_base64_image(encoded, settings.ingest.max_image_pixels, name)


def query_filter(expressions: str | list[str] | None) -> Filter | None:
    """Filter expressions (``"metadata.year>=2020"``, or a list of them, all must hold)."""
    if expressions is None:
        return None
    return parse_filter([expressions] if isinstance(expressions, str) else expressions)


def require_query(text: str | None, image: Image.Image | None) -> None:
    if text is None and image is None:
        raise InvalidInputError("send text, an image, or both")

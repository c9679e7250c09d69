"""Image moderation: an image in, a verdict over the configured categories out."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import RequestModel


class ModerateIn(RequestModel):
    """JSON form: ``{"image": "<base64 or data URL>"}``."""

    image: str = Field(description="The picture, base64-encoded or as a data: URL.")


class FlaggedOut(BaseModel):
    category: str
    probability: float


class ModerateOut(BaseModel):
    """``is_safe``: the unsafe categories together stay under ``MMRAG_MODERATION__THRESHOLD``;
    ``confidence`` in [0.5, 1]; ``flagged``: unsafe categories that matched; ``scores``: every
    category's probability."""

    is_safe: bool
    confidence: float
    unsafe_probability: float
    flagged: list[FlaggedOut]
    scores: dict[str, float]
    model: str

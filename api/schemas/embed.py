"""Embeddings of texts and images, and text-image similarity."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import RequestModel

MAX_BATCH = 256
"""Most texts or images one request may embed."""
MAX_TEXT_CHARS = 10_000
"""Longest text one request may embed (CLIP reads its first 77 tokens; the rest is tokenized
for nothing)."""

EmbedText = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class EmbedTextIn(RequestModel):
    """Texts to embed into the shared image-text space."""

    texts: list[EmbedText] = Field(min_length=1, max_length=MAX_BATCH, examples=[["a red square"]])


class EmbedOut(BaseModel):
    """One L2-normalised float32 vector per input, in input order."""

    model: str
    dim: int
    embeddings: list[list[float]]
    truncated: list[bool] | None = None
    """Per text: whether it was cut at the model's context length (texts only)."""


class SimilarityScore(BaseModel):
    text: str
    score: float
    """Cosine of the image and the text, in [-1, 1]."""
    probability: float
    """Softmax over the request's texts at the model's temperature (zero-shot classification)."""


class SimilarityOut(BaseModel):
    """The texts scored against the image, in request order."""

    model: str
    scores: list[SimilarityScore]

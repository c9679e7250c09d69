"""Zero-shot classification: an image and free-text labels in, the labels ranked out."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import RequestModel


class ClassifyIn(RequestModel):
    """JSON form: ``{"image": "<base64 or data URL>", "labels": ["cat", "dog"]}``."""

    image: str = Field(description="The picture, base64-encoded or as a data: URL.")
    labels: list[str] = Field(min_length=1, description="Labels to rank.")
    templates: list[str] | None = Field(
        default=None, description="Prompt templates with {} (default: MMRAG_CLASSIFY__TEMPLATES)."
    )


class LabelOut(BaseModel):
    label: str
    probability: float
    cosine: float


class ClassifyOut(BaseModel):
    """Labels best first; ``label`` is the top one. Probabilities sum to 1 over the labels."""

    model: str
    label: str
    labels: list[LabelOut]

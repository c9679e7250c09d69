"""What a search takes and returns. Every hit keeps the score of every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from rag import payload as keys
from rag.store.base import Filter

FusionMode = Literal["rrf", "dbsf", "weighted"]


@dataclass(frozen=True)
class Scores:
    """``image``/``text``: cosine of the query to the item's image/text vector (``None`` when the
    item lacks that vector); ``fused``: the fusion score that ranked it; ``rerank``: the
    reranker's relevance in [0, 1] when the reranker ran on it."""

    image: float | None
    text: float | None
    fused: float
    rerank: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"image": self.image, "text": self.text, "fused": self.fused, "rerank": self.rerank}


@dataclass(frozen=True)
class Hit:
    """One retrieved item: its point id, payload and per-stage scores."""

    id: str
    payload: dict[str, Any]
    scores: Scores

    @property
    def text(self) -> str:
        return str(self.payload.get(keys.TEXT) or "")

    @property
    def source(self) -> str:
        return str(self.payload.get(keys.SOURCE) or "")

    @property
    def has_image(self) -> bool:
        return bool(self.payload.get(keys.HAS_IMAGE))


@dataclass(frozen=True)
class Query:
    """A search: words, a picture, or both, and how to rank.

    ``weights`` maps ``image``/``text`` (the item's vectors) to a weight; ``None`` uses settings.
    ``rerank`` ``None`` follows settings.
    """

    text: str | None = None
    image: Image.Image | None = None
    fusion: FusionMode | None = None
    weights: dict[str, float] | None = None
    top_k: int | None = None
    filter: Filter | None = None
    rerank: bool | None = None


@dataclass
class SearchResult:
    """Hits best first, and where the time went (seconds per stage: encode, store, fuse, rerank)."""

    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)
    reranked: bool = False
    rerank_complete: bool = True
    """False when the rerank time budget ran out: hits after the last reranked one kept their
    fused order and have rerank score ``None``."""

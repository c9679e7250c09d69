"""A search request checked against the settings: fusion, weights, sizes, and whether to rerank."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rag.config import RetrievalSettings
from rag.errors import InvalidInputError
from rag.retrieval.types import FusionMode, Query
from rag.store.base import VectorName

FUSION_MODES: tuple[FusionMode, ...] = ("rrf", "dbsf", "weighted")
ITEM_VECTORS: tuple[VectorName, VectorName] = ("image", "text")
"""The item vectors a search fuses, in a fixed order."""


@dataclass(frozen=True)
class SearchPlan:
    """What one search does. ``weights`` holds a weight for each item vector (``image``, ``text``);
    ``candidates`` is how many fused hits to keep (top-k, or more when reranking)."""

    fusion: FusionMode
    weights: dict[str, float]
    top_k: int
    rerank_n: int
    prefetch_limit: int

    @property
    def candidates(self) -> int:
        return max(self.top_k, self.rerank_n)

    @property
    def vectors(self) -> tuple[VectorName, ...]:
        """The item vectors to prefetch from: every one with a positive weight (all for dbsf)."""
        if self.fusion == "dbsf":
            return ITEM_VECTORS
        return tuple(name for name in ITEM_VECTORS if self.weights[name] > 0)

    @property
    def equal_weights(self) -> bool:
        return len({self.weights[name] for name in ITEM_VECTORS}) == 1


def make_plan(query: Query, settings: RetrievalSettings, rerank_n: int) -> SearchPlan:
    """Check ``query`` against ``settings``; ``rerank_n`` is 0 when the search is not reranked."""
    if query.text is None and query.image is None:
        raise InvalidInputError("a query needs text, an image, or both")
    if query.text is not None and not query.text.strip() and query.image is None:
        raise InvalidInputError("the query text is empty: give words or an image")
    fusion = parse_fusion(query.fusion or settings.fusion)
    top_k = query.top_k if query.top_k is not None else settings.top_k
    if not 1 <= top_k <= settings.max_top_k:
        message = f"top_k must be between 1 and {settings.max_top_k}, got {top_k}"
        raise InvalidInputError(message + " (MMRAG_RETRIEVAL__MAX_TOP_K sets the cap)")
    default = {"image": settings.image_weight, "text": settings.text_weight}
    weights = parse_weights(query.weights) if query.weights is not None else default
    check_weights(weights)
    limit = max(settings.prefetch_limit, top_k, rerank_n)
    return SearchPlan(fusion, weights, top_k, rerank_n, limit)


def parse_fusion(value: str) -> FusionMode:
    """``value`` as a fusion mode; the error lists the valid ones."""
    for mode in FUSION_MODES:
        if value == mode:
            return mode
    raise InvalidInputError(f"unknown fusion {value!r}: use one of {', '.join(FUSION_MODES)}")


def parse_weights(weights: Mapping[str, float] | str) -> dict[str, float]:
    """``{"image": 0.7}`` or ``"image=0.7,text=0.3"`` as a weight per item vector (missing: 0)."""
    if isinstance(weights, str):
        weights = _weights_from_text(weights)
    unknown = sorted(set(weights) - set(ITEM_VECTORS))
    if unknown:
        raise InvalidInputError(f"unknown weight {unknown[0]!r}: weigh 'image' and/or 'text'")
    parsed: dict[str, float] = {name: float(weights.get(name, 0.0)) for name in ITEM_VECTORS}
    check_weights(parsed)
    return parsed


def check_weights(weights: Mapping[str, float]) -> None:
    values = [weights[name] for name in ITEM_VECTORS]
    if any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
        raise InvalidInputError(
            f"weights must be finite, not negative, and not all zero; got {dict(weights)}"
        )


def _weights_from_text(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidInputError(f"cannot read weight {part!r}: write image=0.5,text=0.5")
    return weights

"""A search request checked against the settings and what is on offer: which signals to search,
their weights, the fusion, sizes, and whether to rerank."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import get_args

from rag.config import RetrievalSettings
from rag.errors import InvalidInputError
from rag.retrieval.types import CollectionDefaults, FusionMode, Query
from rag.signals import CLIP_SIGNALS, SIGNALS, TEXT_SIGNALS, Signal

FUSION_MODES: tuple[FusionMode, ...] = get_args(FusionMode)
ITEM_VECTORS = SIGNALS
"""Every signal a search may fuse (:data:`rag.signals.SIGNALS`)."""
__all__ = [
    "CLIP_SIGNALS",
    "FUSION_MODES",
    "ITEM_VECTORS",
    "TEXT_SIGNALS",
    "SearchPlan",
    "make_plan",
]


_NONE = CollectionDefaults()


@dataclass(frozen=True)
class SearchPlan:
    """What one search does. ``signals`` are the signals searched (fixed order); ``weights`` holds
    a weight for each of them; ``candidates`` is how many fused hits to keep (top-k, or more when
    reranking)."""

    fusion: FusionMode
    weights: dict[str, float]
    top_k: int
    rerank_n: int
    prefetch_limit: int
    signals: tuple[Signal, ...] = CLIP_SIGNALS

    @property
    def candidates(self) -> int:
        return max(self.top_k, self.rerank_n)

    @cached_property
    def vectors(self) -> tuple[Signal, ...]:
        """The signals to prefetch from: every one with a positive weight (all for dbsf)."""
        if self.fusion == "dbsf":
            return self.signals
        return tuple(name for name in self.signals if self.weights[name] > 0)


def make_plan(
    query: Query,
    settings: RetrievalSettings,
    rerank_n: int,
    unavailable: Mapping[str, str] | None = None,
    defaults: CollectionDefaults | None = None,
) -> SearchPlan:
    """Check ``query`` against ``settings``; ``rerank_n`` is 0 when the search is not reranked.

    ``unavailable`` maps each signal this setup cannot search to the reason (naming the setting
    to change); asking for one of them is an ``InvalidInputError`` with that reason.
    ``defaults``: the collection's own fusion, weights and signals, used where the query names
    none, before ``settings``.
    """
    has_text = bool(query.text and query.text.strip())
    if query.text is None and query.image is None:
        raise InvalidInputError("a query needs text, an image, or both")
    if query.text is not None and not has_text and query.image is None:
        raise InvalidInputError("the query text is empty: give words or an image")
    own = defaults or _NONE
    fusion = parse_fusion(query.fusion or own.fusion or settings.fusion)
    top_k = query.top_k if query.top_k is not None else settings.top_k
    if not 1 <= top_k <= settings.max_top_k:
        message = f"top_k must be between 1 and {settings.max_top_k}, got {top_k}"
        raise InvalidInputError(message + " (MMRAG_RETRIEVAL__MAX_TOP_K sets the cap)")
    asked = query.signals
    if asked is None and own.signals is not None:
        asked = usable_defaults(own.signals, has_text, unavailable or {})
    signals = choose_signals(asked, has_text, unavailable or {})
    weights = plan_weights(query.weights, settings, signals, own.weights)
    limit = max(settings.prefetch_limit, top_k, rerank_n)
    return SearchPlan(fusion, weights, top_k, rerank_n, limit, signals)


def choose_signals(
    asked: tuple[str, ...] | None, has_text: bool, unavailable: Mapping[str, str]
) -> tuple[Signal, ...]:
    """The signals to search: those asked for (each checked), or every available one (the word
    signals only when the query has words)."""
    if asked is None:
        return tuple(
            name
            for name in ITEM_VECTORS
            if name not in unavailable and (has_text or name not in TEXT_SIGNALS)
        )
    chosen = parse_signals(asked)
    for name in chosen:
        if name in unavailable:
            raise InvalidInputError(f"signal {name!r} cannot be searched: {unavailable[name]}")
        if name in TEXT_SIGNALS and not has_text:
            raise InvalidInputError(f"signal {name!r} searches words: give the query text")
    return chosen


def usable_defaults(
    signals: tuple[Signal, ...], has_text: bool, unavailable: Mapping[str, str]
) -> tuple[Signal, ...] | None:
    """A collection's default signals that this query can search (the word signals need words;
    signals this setup lacks are left out); ``None`` (every available one) when none is left."""
    usable = tuple(
        name
        for name in signals
        if name not in unavailable and (has_text or name not in TEXT_SIGNALS)
    )
    return usable or None


def parse_signals(value: tuple[str, ...] | list[str] | str) -> tuple[Signal, ...]:
    """``("passage", "lexical")`` or ``"passage,lexical"`` as signals in the fixed order; the error
    lists the valid names."""
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(ITEM_VECTORS))
    if unknown:
        raise InvalidInputError(
            f"unknown signal {unknown[0]!r}: use one or more of {', '.join(ITEM_VECTORS)}"
        )
    if not names:
        raise InvalidInputError(f"name at least one signal of {', '.join(ITEM_VECTORS)}")
    return tuple(name for name in ITEM_VECTORS if name in names)


def plan_weights(
    asked: Mapping[str, float] | None,
    settings: RetrievalSettings,
    signals: tuple[Signal, ...],
    collection: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """A weight per searched signal: the request's (a signal it leaves out weighs 0), else the
    collection's default weights (``collection``) over the settings'. They must not all be 0."""
    if asked is not None:
        weights = parse_weights(asked, check=False)
    else:
        weights = {**default_weights(settings), **(collection or {})}
    chosen: dict[str, float] = {name: weights[name] for name in signals}
    check_weights(chosen)
    return chosen


def default_weights(settings: RetrievalSettings) -> dict[str, float]:
    """``MMRAG_RETRIEVAL__<SIGNAL>_WEIGHT`` of each signal."""
    return {name: float(getattr(settings, f"{name}_weight")) for name in SIGNALS}


def parse_fusion(value: str) -> FusionMode:
    """``value`` as a fusion mode; the error lists the valid ones."""
    for mode in FUSION_MODES:
        if value == mode:
            return mode
    raise InvalidInputError(f"unknown fusion {value!r}: use one of {', '.join(FUSION_MODES)}")


def parse_weights(weights: Mapping[str, float] | str, check: bool = True) -> dict[str, float]:
    """``{"image": 0.7}`` or ``"image=0.7,lexical=0.3"`` as a weight per signal (missing: 0)."""
    if isinstance(weights, str):
        weights = _weights_from_text(weights)
    unknown = sorted(set(weights) - set(ITEM_VECTORS))
    if unknown:
        raise InvalidInputError(
            f"unknown weight {unknown[0]!r}: weigh signals of {', '.join(ITEM_VECTORS)}"
        )
    parsed: dict[str, float] = {name: float(weights.get(name, 0.0)) for name in ITEM_VECTORS}
    if check:
        check_weights(parsed)
    return parsed


def check_weights(weights: Mapping[str, float]) -> None:
    values = list(weights.values())
    if any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
        raise InvalidInputError(
            "weights must be finite, not negative, and not all zero over the signals searched "
            f"({', '.join(weights) or 'none'}); got {dict(weights)}"
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

"""The reranker stage: a :class:`Reranker` protocol, its builder, and how reranked hits are ordered.

The reranker reads the query's text and each candidate's :attr:`Hit.passage_text` (``chunk_text``
when the point embeds a chunk or passage, else ``text``), never a 77-token caption. Candidates
without text keep their fused position; the others are reordered among the remaining places by
rerank score (ties keep their fused order).

A reranker may have a time budget per search (``budget_s``): candidates are then scored a few at
a time in fused order, and when the next few would not fit in what is left, the rest keep their
fused order with rerank score ``None`` (:attr:`Reranked.complete` is false).

Example::

    reranker = build_reranker(settings.rerank, settings.model_cache_dir)  # None when off/missing
    hits = rerank_hits("a red square", hits, reranker)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from rag.config import RerankSettings
from rag.errors import ModelUnavailableError
from rag.retrieval.types import Hit

log = logging.getLogger(__name__)

CROSS_ENCODER_PREFIX = "cross-encoder:"
OFF_VALUES = ("", "none", "off")
BUDGET_CHUNK = 2
"""Candidates scored per call when a time budget applies (the budget is checked between calls)."""


@runtime_checkable
class Reranker(Protocol):
    """Scores (query, document) pairs by relevance in [0, 1].

    Example::

        reranker.warm_up()
        reranker.score("red square", ["a red square", "a blue circle"])  # [0.93, 0.02]
    """

    @property
    def model_id(self) -> str:
        """The model's name (hub id, folder, or ``cross-encoder:`` name)."""
        ...

    @property
    def top_n(self) -> int:
        """How many fused candidates a search reranks by default (sized for the device)."""
        ...

    @property
    def budget_s(self) -> float | None:
        """Seconds a search may spend reranking (``None``: no limit)."""
        ...

    def warm_up(self) -> None:
        """Load the model now (otherwise the first call loads it)."""
        ...

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """Relevance of each document to ``query``, in the order of ``documents``."""
        ...


def build_reranker(settings: RerankSettings, cache_dir: Path) -> Reranker | None:
    """The configured reranker, or ``None`` when reranking is off.

    Off means ``model`` is ``none`` or the device's top-n is 0. When the weights cannot be found,
    this logs one warning and returns ``None`` unless ``settings.required`` (then it raises
    :class:`~rag.errors.ModelUnavailableError`). Weights are located here; the model itself loads
    in ``warm_up`` or on first use.
    """
    from rag.retrieval.rerank.devices import resolve_device, top_n_for

    name = settings.model.strip()
    device = resolve_device(settings.device)
    top_n = top_n_for(settings, device)
    if name.lower() in OFF_VALUES or top_n == 0:
        return None
    try:
        return _build(name, settings, Path(cache_dir), device, top_n)
    except ModelUnavailableError as exc:
        if settings.required:
            raise
        log.warning("searching without a reranker: %s", exc)
        return None


def _build(
    name: str, settings: RerankSettings, cache_dir: Path, device: str, top_n: int
) -> Reranker:
    from rag.retrieval.rerank.model_files import resolve_model_folder

    if name.startswith(CROSS_ENCODER_PREFIX):
        from rag.retrieval.rerank.cross_encoder import CrossEncoderReranker

        folder = resolve_model_folder(name[len(CROSS_ENCODER_PREFIX) :].strip(), cache_dir)
        return CrossEncoderReranker(folder, settings, device=device, top_n=top_n, model_id=name)
    from rag.retrieval.rerank.qwen3 import Qwen3Reranker

    folder = resolve_model_folder(name, cache_dir)
    return Qwen3Reranker(folder, settings, device=device, top_n=top_n, model_id=name)


def rerank_order(hits: Sequence[Hit], scores: Sequence[float | None]) -> list[Hit]:
    """``hits`` with ``scores`` set as their rerank score and reordered.

    Hits whose score is ``None`` (no text) keep their place; the rest fill the other places by
    descending score, ties in their original order.
    """
    if len(hits) != len(scores):
        raise ValueError("rerank_order needs one score (or None) per hit")
    places = [i for i, value in enumerate(scores) if value is not None]
    best_first = sorted(places, key=lambda i: (-float(scores[i] or 0.0), i))
    ordered = list(hits)
    for place, index in zip(places, best_first, strict=True):
        hit = hits[index]
        ordered[place] = replace(hit, scores=replace(hit.scores, rerank=scores[index]))
    return ordered


@dataclass(frozen=True)
class Reranked:
    """Hits after reranking; ``complete`` is false when the time budget stopped it early (the hits
    it did not score keep their fused places, rerank score ``None``)."""

    hits: list[Hit]
    complete: bool = True


def rerank_hits(query: str, hits: Sequence[Hit], reranker: Reranker) -> list[Hit]:
    """Score every hit that has text with ``reranker`` (within its budget) and reorder."""
    return rerank_within(query, hits, reranker).hits


def rerank_within(query: str, hits: Sequence[Hit], reranker: Reranker) -> Reranked:
    """Score the hits that have text, in fused order, until ``reranker.budget_s`` runs out.

    Scored hits are reordered among their places with :func:`rerank_order`; the unscored ones
    after them keep their fused order.
    """
    texts = [hit.passage_text for hit in hits]
    with_text = [i for i, text in enumerate(texts) if text]
    values = _score_within(query, [texts[i] for i in with_text], reranker)
    scores: list[float | None] = [None] * len(hits)
    for index, value in zip(with_text, values, strict=False):
        scores[index] = float(value)
    if len(values) == len(with_text):
        return Reranked(rerank_order(hits, scores))
    cut = with_text[len(values)]  # the first unscored hit with text: from here, fused order
    return Reranked(rerank_order(hits[:cut], scores[:cut]) + list(hits[cut:]), complete=False)


def _score_within(query: str, documents: list[str], reranker: Reranker) -> list[float]:
    """Scores of the first documents that fit in the budget (all of them without one)."""
    budget = reranker.budget_s
    if not documents:
        return []
    if budget is None:
        return list(reranker.score(query, documents))
    deadline = time.perf_counter() + budget
    values: list[float] = []
    slowest = 0.0
    for start in range(0, len(documents), BUDGET_CHUNK):
        began = time.perf_counter()
        if began + slowest > deadline:
            break
        values += reranker.score(query, documents[start : start + BUDGET_CHUNK])
        slowest = max(slowest, time.perf_counter() - began)
    return values

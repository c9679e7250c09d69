"""Fusion as pure functions: Qdrant's RRF and DBSF, and the exact weighted mean, over a search's
:class:`~rag.store.candidates.Candidates`.

:func:`fuse` ranks candidates by one mode. The list forms :func:`rrf` and :func:`dbsf` (``(id,
score)`` lists, best first -> ``{id: fused}``) are the formulas written once, which
``tests/rag/retrieval/test_fusion.py`` checks against qdrant-client's reference code; the
array forms (:func:`rrf_terms`, :func:`dbsf_scaled`) add up the very same values.

Example::

    rrf([[("a", 0.9), ("b", 0.8)], [("b", 0.7)]], k=60)  # {"a": 1/60, "b": 1/61 + 1/60}
    fuse(candidates, "weighted", {"image": 0.5, "text": 0.5}, limit=10)  # [(row, score), ...]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from rag.retrieval.types import FusionMode
from rag.signals import LEXICAL
from rag.store.candidates import Candidates

CandidateList = Sequence[tuple[str, float]]
QDRANT_RRF_K = 2
"""Qdrant's default RRF rank constant (score = sum 1 / (k + rank))."""


def fuse(
    candidates: Candidates,
    mode: FusionMode,
    weights: Mapping[str, float],
    limit: int,
    rrf_k: int = 60,
) -> list[tuple[int, float]]:
    """The ``limit`` best rows of ``candidates`` by ``mode``, ``(row, fused score)`` best first,
    ties by point id. ``rrf``: each list's ranks, each weighted by its signal's weight divided by
    the mean weight; ``dbsf``: each list's scores scaled by its mean +- 3 standard deviations;
    ``weighted``: :func:`weighted_scores` of the exact scores (lexical divided by the list's
    best), an item with no positive-weight vector left out."""
    engine = candidates.fused(mode, weights, limit, rrf_k)
    if engine is not None:  # the engine's own fusion: the same formula, fewer points read
        return engine
    if mode == "weighted":
        values = weighted_values(candidates, weights)
        rows = np.flatnonzero(~np.isnan(values))
        return best(candidates, rows, values[rows], limit)
    total = np.zeros(len(candidates))
    mean = sum(weights.get(n, 1.0) for n in candidates.names) / max(len(candidates.names), 1)
    for column, name in enumerate(candidates.names):
        rows, scores = candidates.ranked(column)
        if mode == "rrf":
            total[rows] += rrf_terms(len(rows), rrf_k, weights.get(name, 1.0) / mean)
        elif mode == "dbsf":
            total[rows] += dbsf_scaled(scores)
        else:
            raise ValueError(f"unknown fusion {mode!r}: use rrf, dbsf or weighted")
    return best(candidates, np.arange(len(candidates)), total, limit)


def weighted_values(candidates: Candidates, weights: Mapping[str, float]) -> np.ndarray:
    """Each row's :func:`weighted_scores` over ``candidates.names`` (NaN: no positive-weight
    vector), the lexical column divided by the query's best BM25 score (its list's first)."""
    table = candidates.table()
    if LEXICAL in candidates.names:
        rows, scores = candidates.ranked(LEXICAL)
        top = float(scores[0]) if len(rows) else 0.0
        if top > 0:
            table = table.copy()
            table[:, candidates.names.index(LEXICAL)] /= top
    given = np.array([weights.get(name, 0.0) for name in candidates.names], np.float64)
    return weighted_scores(table, given)


def best(
    candidates: Candidates, rows: np.ndarray, values: np.ndarray, limit: int
) -> list[tuple[int, float]]:
    """``(row, value)`` of the ``limit`` rows with the highest ``values`` (no NaN), best first,
    ties by point id."""
    if len(rows) > limit:  # those at or above the limit-th value: ties are ordered by id
        cut = np.partition(values, len(values) - limit)[len(values) - limit]
        rows, values = rows[values >= cut], values[values >= cut]
    ids = candidates.ids
    order = sorted(
        zip(rows.tolist(), values.tolist(), strict=True), key=lambda p: (-p[1], ids[p[0]])
    )
    return order[:limit]


# --- the formulas, once ---------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def rrf_terms(count: int, k: int, weight: float = 1.0) -> np.ndarray:
    """One list's RRF contribution at 0-based positions ``0 .. count - 1``:
    ``1 / ((pos+1)/w + k - 1)`` (Qdrant's ``1 / (k + pos)`` at weight 1; a weight divides the
    rank, weight 0 adds nothing), one read-only float64 array (kept: searches ask for few)."""
    terms: np.ndarray
    if weight <= 0:
        terms = np.zeros(count)
    else:
        with np.errstate(over="ignore"):  # a tiny weight: an infinite rank adds 0
            terms = 1.0 / ((np.arange(count) + 1.0) / weight + k - 1.0)
    terms.flags.writeable = False
    return terms


def rrf(
    lists: Sequence[CandidateList], k: int = 60, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Reciprocal rank fusion: each item sums its :func:`rrf_terms` over the lists it is in."""
    if weights is not None and len(weights) != len(lists):
        raise ValueError("rrf needs one weight per candidate list")
    scores: dict[str, float] = {}
    for index, candidates in enumerate(lists):
        weight = 1.0 if weights is None else weights[index]
        terms = rrf_terms(len(candidates), k, weight).tolist()
        for (point_id, _), term in zip(candidates, terms, strict=True):
            scores[point_id] = scores.get(point_id, 0.0) + term
    return scores


def dbsf_scaled(values: np.ndarray) -> np.ndarray:
    """One list's scores scaled by its mean +- 3 sample standard deviations (Qdrant's DBSF); a
    list of one item, or of equal scores, maps to 0.5."""
    values = np.asarray(values, dtype=np.float64)
    count = len(values)
    if count < 2:
        return np.full(count, 0.5)
    mean = float(values.sum()) / count  # np.mean and np.std(ddof=1), their very sums (bit-exact)
    deviations = values - mean
    variance = float((deviations * deviations).sum()) / (count - 1)
    if variance == 0.0:
        return np.full(count, 0.5)
    std = math.sqrt(variance)
    low, high = mean - 3 * std, mean + 3 * std
    return (values - low) / (high - low)


def dbsf_normalize(candidates: CandidateList) -> dict[str, float]:
    """:func:`dbsf_scaled` of one list, by id."""
    scaled = dbsf_scaled(np.array([score for _, score in candidates], dtype=np.float64))
    return dict(zip((point_id for point_id, _ in candidates), scaled.tolist(), strict=True))


def dbsf(lists: Sequence[CandidateList]) -> dict[str, float]:
    """Distribution-based score fusion: the sum of each list's :func:`dbsf_normalize` scores."""
    scores: dict[str, float] = {}
    for candidates in lists:
        for point_id, value in dbsf_normalize(candidates).items():
            scores[point_id] = scores.get(point_id, 0.0) + value
    return scores


def weighted_scores(similarities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted average of each row's similarities, renormalised over the vectors the item has.

    ``similarities`` is ``(n_items, n_vectors)`` with NaN where an item lacks that vector;
    ``weights`` is ``(n_vectors,)``, non-negative. An item whose present vectors all weigh 0 gets
    NaN (it has nothing the request asked about).
    """
    present = ~np.isnan(similarities)
    if present.all():  # the same sums, without the masks
        total = float(weights.sum())
        if total <= 0:
            return np.full(len(similarities), np.nan)
        return (similarities * weights).sum(axis=1) / total
    w = np.where(present, weights[None, :], 0.0)
    total = w.sum(axis=1)
    summed = (np.where(present, similarities, 0.0) * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, summed / np.where(total > 0, total, 1.0), np.nan)


def cosines(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine of ``query`` ``(dim,)`` to each row of ``vectors`` ``(n, dim)``, in float64."""
    q = np.asarray(query, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1) * np.linalg.norm(q)
    return (v @ q) / np.where(norms > 0, norms, 1.0)


def ranked(scores: Mapping[str, float], limit: int | None = None) -> list[tuple[str, float]]:
    """Items by descending score, ties by ascending id; the first ``limit`` of them."""
    order = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return order if limit is None else order[:limit]

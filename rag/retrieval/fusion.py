"""Fusion as pure functions: Qdrant's RRF and DBSF formulas (kept in :mod:`rag.store.engine_fusion`,
which the embedded store fuses its exact scans with), and the exact weighted sum of cosines.

Candidate lists are sequences of ``(point_id, score)`` pairs, best first. Every function returns
``{point_id: fused_score}``; :func:`ranked` turns that into a deterministic order (score, then id).

Example::

    scores = rrf([[("a", 0.9), ("b", 0.8)], [("b", 0.7)]], k=60)
    ranked(scores)  # [("b", ...), ("a", ...)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rag.store.engine_fusion import CandidateList, dbsf, dbsf_normalize, rrf, rrf_terms

__all__ = [
    "CandidateList",
    "cosines",
    "dbsf",
    "dbsf_normalize",
    "ranked",
    "rrf",
    "rrf_terms",
    "weighted_scores",
    "weighted_upper_bound",
]


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


def weighted_upper_bound(
    known: Sequence[float | None], floors: Sequence[float], weights: Sequence[float]
) -> float:
    """The largest :func:`weighted_scores` value an item can have, from its candidate lists alone.

    Per vector ``j`` (positive ``weights``): ``known[j]`` is the item's cosine when list ``j``
    holds it; otherwise the item lacks vector ``j`` or its cosine is at most ``floors[j]`` (the
    list's last score), whichever raises the mean. A true bound whenever the lists are exact
    nearest neighbours.
    """
    total = sum(w * k for k, w in zip(known, weights, strict=True) if k is not None)
    weight = sum(w for k, w in zip(known, weights, strict=True) if k is not None)
    optional = [(floors[j], weights[j]) for j, value in enumerate(known) if value is None]
    for floor, w in sorted(optional, reverse=True):  # include an unknown only if it raises the mean
        if weight == 0 or floor > total / weight:
            total, weight = total + w * floor, weight + w
    return total / weight if weight > 0 else float("-inf")


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

"""Qdrant's RRF and DBSF formulas in Python, for lists the engine did not search.

The engines fuse their own candidate lists; the embedded store fuses its exact scans of a small
collection (:mod:`rag.store.vector_copy`) with these, so both give the same scores.
``tests/rag/retrieval/test_fusion.py`` checks them against qdrant-client's reference code.
Candidate lists are sequences of ``(point_id, score)`` pairs, best first; every function returns
``{point_id: fused_score}``.

Example::

    scores = rrf([[("a", 0.9), ("b", 0.8)], [("b", 0.7)]], k=60)  # {"a": 1/60, "b": 1/61 + 1/60}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CandidateList = Sequence[tuple[str, float]]


def rrf_term(position: int, k: int, weight: float = 1.0) -> float:
    """One list's contribution for the item at 0-based ``position``: ``1 / ((pos+1)/w + k - 1)``.

    With ``weight`` 1 this is Qdrant's ``1 / (k + pos)``; a weight ``w`` divides the rank by ``w``,
    as Qdrant's weighted RRF does. Weight 0 contributes nothing.
    """
    if weight <= 0:
        return 0.0
    return 1.0 / ((position + 1.0) / weight + k - 1.0)


def rrf(
    lists: Sequence[CandidateList], k: int = 60, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Reciprocal rank fusion: each item sums :func:`rrf_term` over the lists it appears in."""
    if weights is not None and len(weights) != len(lists):
        raise ValueError("rrf needs one weight per candidate list")
    scores: dict[str, float] = {}
    for index, candidates in enumerate(lists):
        weight = 1.0 if weights is None else weights[index]
        for position, (point_id, _) in enumerate(candidates):
            scores[point_id] = scores.get(point_id, 0.0) + rrf_term(position, k, weight)
    return scores


def dbsf_normalize(candidates: CandidateList) -> dict[str, float]:
    """Scale one list's scores by its mean ± 3 sample standard deviations (Qdrant's DBSF).

    A list of one item, or of equal scores, maps every item to 0.5.
    """
    values = np.array([score for _, score in candidates], dtype=np.float64)
    if len(values) < 2 or float(np.var(values, ddof=1)) == 0.0:
        return {point_id: 0.5 for point_id, _ in candidates}
    mean, std = float(values.mean()), float(np.std(values, ddof=1))
    low, high = mean - 3 * std, mean + 3 * std
    return {point_id: (score - low) / (high - low) for point_id, score in candidates}


def dbsf(lists: Sequence[CandidateList]) -> dict[str, float]:
    """Distribution-based score fusion: the sum of each list's :func:`dbsf_normalize` scores."""
    scores: dict[str, float] = {}
    for candidates in lists:
        for point_id, value in dbsf_normalize(candidates).items():
            scores[point_id] = scores.get(point_id, 0.0) + value
    return scores

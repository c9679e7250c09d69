"""Qdrant's RRF and DBSF formulas in Python, for lists the engine did not search.

The engines fuse their own candidate lists; the embedded store fuses its exact scans of a small
collection (:mod:`rag.store.vector_copy`) with these, so both give the same scores.
``tests/rag/retrieval/test_fusion.py`` checks them against qdrant-client's reference code.
Candidate lists are sequences of ``(point_id, score)`` pairs, best first; :func:`rrf` and
:func:`dbsf` return ``{point_id: fused_score}``. The array forms (:func:`rrf_terms`,
:func:`dbsf_scaled`, :func:`summed`) give the same values for lists held as arrays of rows.

Example::

    scores = rrf([[("a", 0.9), ("b", 0.8)], [("b", 0.7)]], k=60)  # {"a": 1/60, "b": 1/61 + 1/60}
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

CandidateList = Sequence[tuple[str, float]]


@functools.lru_cache(maxsize=256)
def rrf_terms(count: int, k: int, weight: float = 1.0) -> np.ndarray:
    """One list's contribution for the items at 0-based positions ``0 .. count - 1``:
    ``1 / ((pos+1)/w + k - 1)``, as one read-only float64 array (searches ask for the same few:
    kept).

    With ``weight`` 1 this is Qdrant's ``1 / (k + pos)``; a weight ``w`` divides the rank by ``w``,
    as Qdrant's weighted RRF does. Weight 0 contributes nothing.
    """
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
    """Reciprocal rank fusion: each item sums its :func:`rrf_terms` over the lists it appears
    in."""
    if weights is not None and len(weights) != len(lists):
        raise ValueError("rrf needs one weight per candidate list")
    scores: dict[str, float] = {}
    for index, candidates in enumerate(lists):
        weight = 1.0 if weights is None else weights[index]
        terms = rrf_terms(len(candidates), k, weight).tolist()
        for (point_id, _), term in zip(candidates, terms, strict=True):
            scores[point_id] = scores.get(point_id, 0.0) + term
    return scores


def dbsf_normalize(candidates: CandidateList) -> dict[str, float]:
    """Scale one list's scores by its mean ± 3 sample standard deviations (Qdrant's DBSF).

    A list of one item, or of equal scores, maps every item to 0.5.
    """
    scaled = dbsf_scaled(np.array([score for _, score in candidates], dtype=np.float64))
    return dict(zip((point_id for point_id, _ in candidates), scaled.tolist(), strict=True))


def dbsf_scaled(values: np.ndarray) -> np.ndarray:
    """:func:`dbsf_normalize` of one list's scores, as one float64 array."""
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


def dbsf(lists: Sequence[CandidateList]) -> dict[str, float]:
    """Distribution-based score fusion: the sum of each list's :func:`dbsf_normalize` scores."""
    scores: dict[str, float] = {}
    for candidates in lists:
        for point_id, value in dbsf_normalize(candidates).items():
            scores[point_id] = scores.get(point_id, 0.0) + value
    return scores


def summed(
    keys: Sequence[np.ndarray], values: Sequence[np.ndarray], bound: int
) -> tuple[np.ndarray, np.ndarray]:
    """The lists' contributions summed per key as :func:`rrf` and :func:`dbsf` sum them (from 0,
    in list order), over integer keys (rows: distinct within a list, below ``bound``) and arrays
    of :func:`rrf_terms` or :func:`dbsf_scaled`: ``(the keys found, ascending; their sums)``."""
    total = np.zeros(bound)
    found = np.zeros(bound, bool)
    for rows, contributions in zip(keys, values, strict=True):
        total[rows] += contributions
        found[rows] = True
    rows = np.flatnonzero(found)
    return rows, total[rows]

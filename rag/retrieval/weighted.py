"""The ``weighted`` fusion's exact scores, and bounds that spare reading every candidate's vectors.

A candidate's weighted score is the weighted mean of its signal scores over the signals it has:
cosines for ``image``, ``text`` and ``passage``, and for ``lexical`` its BM25 score divided by the
query's best BM25 score in the collection (the first of the lexical list), so that the best
lexical match scores 1 and an item sharing no term scores 0.

Before its vectors are read, the candidate lists bound a candidate: the score of a list that holds
it is known; for a list that does not, the item either lacks that vector or its score is at most
the list's last score (when the list is full; else it lacks the vector, or for ``lexical`` shares
no term and scores 0). Reading candidates best bound first may stop once the needed-th exact score
beats every unread bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from rag.retrieval import fusion
from rag.retrieval.plan import SearchPlan
from rag.store.base import LEXICAL, ScoredPoint

BOUND_SLACK = 1e-6
"""Engines score in float32: a candidate whose bound is this close to the cut is read anyway."""


def list_floor(name: str, candidates: Sequence[ScoredPoint], limit: int) -> float:
    """The highest score an item missing from a list can have (if it has the vector)."""
    if len(candidates) >= limit:
        return candidates[-1].score
    return 0.0 if name == LEXICAL else -1.0


def weighted_bounds(plan: SearchPlan, lists: Mapping[str, list[ScoredPoint]]) -> dict[str, float]:
    """Each candidate's upper bound of its weighted score (``fusion.weighted_upper_bound``) from
    ``lists`` (lexical scores already normalised; no payloads: whether an item has a vector it is
    missing from a list for is unknown)."""
    names = plan.vectors
    weights = [plan.weights[name] for name in names]
    floors = [list_floor(n, lists[n], plan.prefetch_limit) for n in names]
    known: dict[str, list[float | None]] = {}
    for j, name in enumerate(names):
        for point in lists[name]:
            known.setdefault(point.id, [None] * len(names))[j] = point.score
    return {
        pid: fusion.weighted_upper_bound(scores, floors, weights) + BOUND_SLACK
        for pid, scores in known.items()
    }


def settled(scores: Mapping[str, float], needed: int, next_bound: float) -> bool:
    """True when ``needed`` exact scores exist and the ``needed``-th beats every unread bound."""
    if len(scores) < needed:
        return False
    return sorted(scores.values(), reverse=True)[needed - 1] > next_bound


def weighted_scores(
    plan: SearchPlan, ids: Sequence[str], sims: np.ndarray, lexical_best: float
) -> dict[str, float]:
    """Exact weighted scores of the points ``ids`` from their signal scores ``sims`` (``(n,
    len(plan.signals))``, NaN: no such vector; lexical raw, divided here by ``lexical_best``);
    points with no positive-weight vector are left out."""
    scored = weighted_values(plan, sims, lexical_best)
    return {pid: v for pid, v in zip(ids, scored.tolist(), strict=True) if not math.isnan(v)}


def weighted_values(plan: SearchPlan, sims: np.ndarray, lexical_best: float = 1.0) -> np.ndarray:
    """:func:`weighted_scores` as an array in the rows' order (NaN: no positive-weight vector)."""
    weights = np.array([plan.weights[name] for name in plan.signals], dtype=np.float64)
    return fusion.weighted_scores(normalised(plan, sims, lexical_best), weights)


def normalised(plan: SearchPlan, sims: np.ndarray, lexical_best: float) -> np.ndarray:
    """``sims`` with the lexical column divided by the query's best lexical score."""
    if LEXICAL not in plan.signals or lexical_best <= 0:
        return sims
    out = sims.copy()
    out[:, plan.signals.index(LEXICAL)] /= lexical_best
    return out

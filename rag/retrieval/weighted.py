"""The ``weighted`` fusion's exact scores, and bounds that spare reading every candidate's vectors.

A candidate's weighted score is the weighted mean of its cosines to the vectors it has. Before its
vectors are read, the candidate lists bound it: the cosine of a list that holds it is known; for a
list that does not, the item either lacks that vector or its cosine is at most the list's last
score. Reading candidates best bound first may stop once the needed-th exact score beats every
unread bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rag import payload as keys
from rag.retrieval import fusion
from rag.retrieval.plan import ITEM_VECTORS, SearchPlan
from rag.store.base import ScoredPoint, StoredPoint

BOUND_SLACK = 1e-6
"""Engines score in float32: a candidate whose bound is this close to the cut is read anyway."""
_HAS_KEY = {"image": keys.HAS_IMAGE, "text": keys.HAS_TEXT}


def weighted_bounds(plan: SearchPlan, lists: Mapping[str, list[ScoredPoint]]) -> dict[str, float]:
    """Each candidate's upper bound of its weighted score (``fusion.weighted_upper_bound``); the
    payload's ``has_image``/``has_text``, when present, say which vectors an item has."""
    names = plan.vectors
    weights = [plan.weights[name] for name in names]
    floors = [lists[n][-1].score if len(lists[n]) >= plan.prefetch_limit else -1.0 for n in names]
    known: dict[str, list[float | None]] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        for point in lists[name]:
            known.setdefault(point.id, [None] * len(names))[j] = point.score
            payloads.setdefault(point.id, point.payload)
    bounds = {}
    for pid, cosines in known.items():
        has = [_flag(payloads[pid].get(_HAS_KEY[name])) for name in names]
        bounds[pid] = fusion.weighted_upper_bound(cosines, floors, weights, has) + BOUND_SLACK
    return bounds


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def settled(scores: Mapping[str, float], needed: int, next_bound: float) -> bool:
    """True when ``needed`` exact scores exist and the ``needed``-th beats every unread bound."""
    if len(scores) < needed:
        return False
    return sorted(scores.values(), reverse=True)[needed - 1] > next_bound


def weighted_scores(
    plan: SearchPlan, points: Sequence[StoredPoint], sims: np.ndarray
) -> dict[str, float]:
    """Exact weighted scores of ``points`` from their cosines ``sims`` (``(n, 2)``, NaN: no such
    vector); points with no positive-weight vector are left out."""
    weights = np.array([plan.weights[name] for name in ITEM_VECTORS])
    values = fusion.weighted_scores(sims, weights)
    return {p.id: float(v) for p, v in zip(points, values, strict=True) if not np.isnan(v)}

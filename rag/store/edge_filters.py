"""Translate the neutral :class:`rag.store.base.Filter` to Qdrant Edge filter models."""

from __future__ import annotations

from typing import Any

import numpy as np
import qdrant_edge as qe

from rag.store import base
from rag.store.convert import canonical_ids


def edge_filter(flt: base.Filter | None, *more: Any) -> qe.Filter | None:
    """The Edge filter for ``flt`` and the Edge conditions ``more`` (``None`` when there is
    nothing to filter)."""
    if (flt is None or flt.is_empty()) and not more:
        return None
    must, should, must_not = ((), (), ()) if flt is None else (flt.must, flt.should, flt.must_not)
    return qe.Filter(
        must=[*more, *(_condition(c) for c in must)] or None,
        should=[_condition(c) for c in should] or None,
        must_not=[_condition(c) for c in must_not] or None,
    )


def _condition(cond: base.Condition) -> Any:
    match cond:
        case base.MatchValue(key=key, value=bool(value)):
            # qdrant-edge-py 0.9 reads a Python bool as an int (False -> 0, matching nothing);
            # numpy.bool_ is not an int, so it arrives as a bool.
            return qe.FieldCondition(key=key, match=qe.MatchValue(np.bool_(value)))  # type: ignore[arg-type]
        case base.MatchValue(key=key, value=value):
            return qe.FieldCondition(key=key, match=qe.MatchValue(value))
        case base.MatchAny(key=key, values=values):
            return qe.FieldCondition(key=key, match=qe.MatchAny(list(values)))  # type: ignore[arg-type]
        case base.Range(key=key, gt=gt, gte=gte, lt=lt, lte=lte):
            return qe.FieldCondition(key=key, range=qe.RangeFloat(gte=gte, gt=gt, lte=lte, lt=lt))
        case base.DatetimeRange(key=key, gt=gt, gte=gte, lt=lt, lte=lte):
            bounds = qe.RangeDateTime(gte=gte, gt=gt, lte=lte, lt=lt)
            return qe.FieldCondition(key=key, range=bounds)
        case base.HasId(ids=ids):
            return qe.HasIdCondition(set(canonical_ids(ids)))
    raise TypeError(f"unknown filter condition {cond!r}")

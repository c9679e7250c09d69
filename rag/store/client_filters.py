"""Translate the neutral :class:`rag.store.base.Filter` to qdrant-client filter models."""

from __future__ import annotations

from qdrant_client import models as qm

from rag.store import base
from rag.store.convert import canonical_ids


def client_filter(flt: base.Filter | None) -> qm.Filter | None:
    """The qdrant-client filter for ``flt`` (``None`` when there is nothing to filter)."""
    if flt is None or flt.is_empty():
        return None
    return qm.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )


def _condition(cond: base.Condition) -> qm.Condition:
    match cond:
        case base.MatchValue(key=key, value=value):
            return qm.FieldCondition(key=key, match=qm.MatchValue(value=value))
        case base.MatchAny(key=key, values=values):
            return qm.FieldCondition(key=key, match=qm.MatchAny(any=list(values)))  # type: ignore[arg-type]
        case base.Range(key=key, gt=gt, gte=gte, lt=lt, lte=lte):
            return qm.FieldCondition(key=key, range=qm.Range(gt=gt, gte=gte, lt=lt, lte=lte))
        case base.DatetimeRange(key=key, gt=gt, gte=gte, lt=lt, lte=lte):
            bounds = qm.DatetimeRange(gt=gt, gte=gte, lt=lt, lte=lte)  # type: ignore[arg-type]
            return qm.FieldCondition(key=key, range=bounds)
        case base.HasId(ids=ids):
            return qm.HasIdCondition(has_id=list(canonical_ids(ids)))
    raise TypeError(f"unknown filter condition {cond!r}")

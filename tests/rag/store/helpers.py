"""Points and a reference filter evaluator shared by the store tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import numpy as np

from rag.embedding.base import SparseTerms
from rag.store import (
    CollectionLayout,
    Condition,
    DatetimeRange,
    Filter,
    HasId,
    MatchAny,
    MatchValue,
    PointRecord,
    Range,
    StoredPoint,
)

DIM = 8
PASSAGE_DIM = 6
LAYOUT = CollectionLayout.of(DIM, passage_dim=PASSAGE_DIM, lexical=True)
"""Every signal: CLIP image/text of ``DIM``, passage of ``PASSAGE_DIM``, sparse lexical."""
CLIP_ONLY = CollectionLayout.of(DIM)
"""A collection as made before the text signals: image/text only."""
SOURCES = ("a.jpg", "b.jpg", "c.txt", "d.png")
VOCABULARY = 12


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    vector = rng.standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def make_id(n: int) -> str:
    return str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % (1 << 128)))


def terms(rng: np.random.Generator, count: int = 3) -> SparseTerms:
    """A few distinct term ids of a small vocabulary with positive weights, sorted."""
    ids = sorted(int(i) for i in rng.choice(VOCABULARY, size=count, replace=False))
    return SparseTerms(tuple(ids), tuple(round(float(w), 6) for w in rng.uniform(0.5, 2.0, count)))


def random_points(
    n: int, seed: int = 0, dim: int = DIM, signals: bool = True, first_id: int = 1
) -> list[PointRecord]:
    """``n`` points: one in five image-only, one in five text-only, payloads of every JSON type;
    with ``signals``, every third has a ``passage`` vector and every other ``lexical`` terms."""
    rng = np.random.default_rng(seed)
    points = []
    for i in range(n):
        kinds = ("image",) if i % 5 == 1 else ("text",) if i % 5 == 2 else ("image", "text")
        vectors: dict[str, np.ndarray | SparseTerms] = {kind: unit(rng, dim) for kind in kinds}
        if signals and i % 3 == 0:
            vectors["passage"] = unit(rng, PASSAGE_DIM)
        if signals and i % 2 == 0:
            vectors["lexical"] = terms(rng, 1 + i % 4)
        payload = {
            "source": SOURCES[i % len(SOURCES)],
            "n": i,
            "score": round(float(rng.random()), 6),
            "ingested_at": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00+00:00",
            "has_image": "image" in kinds,
            "tags": [f"t{i % 3}", f"u{i % 2}"],
        }
        points.append(PointRecord(make_id(first_id + i), vectors, payload))
    return points


def matches(point: StoredPoint | PointRecord, flt: Filter | None) -> bool:
    """What a filter means, evaluated in Python: the reference both engines must agree with."""
    if flt is None:
        return True
    payload = dict(point.payload)
    if not all(_holds(point.id, payload, c) for c in flt.must):
        return False
    if any(_holds(point.id, payload, c) for c in flt.must_not):
        return False
    return not flt.should or any(_holds(point.id, payload, c) for c in flt.should)


def _values(payload: dict[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    return value if isinstance(value, list) else [] if value is None else [value]


def _holds(point_id: str, payload: dict[str, Any], cond: Condition) -> bool:
    match cond:
        case MatchValue(key=key, value=value):
            return any(v == value and type(v) is type(value) for v in _values(payload, key))
        case MatchAny(key=key, values=values):
            return any(v in values for v in _values(payload, key))
        case Range(key=key) | DatetimeRange(key=key):
            return any(_in_range(v, cond) for v in _values(payload, key))
        case HasId(ids=ids):
            return point_id in ids
    raise TypeError(cond)


def _in_range(value: Any, cond: Range | DatetimeRange) -> bool:
    if isinstance(cond, DatetimeRange):
        value = datetime.fromisoformat(value)
        bounds = [None if b is None else datetime.fromisoformat(b) for b in _bounds(cond)]
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        bounds = list(_bounds(cond))
    gt, gte, lt, lte = bounds
    return (
        (gt is None or value > gt)
        and (gte is None or value >= gte)
        and (lt is None or value < lt)
        and (lte is None or value <= lte)
    )


def _bounds(cond: Range | DatetimeRange) -> tuple[Any, Any, Any, Any]:
    return cond.gt, cond.gte, cond.lt, cond.lte


def search(
    store: Any, name: str, query: Any, limit: int, flt: Filter | None = None
) -> list[tuple[str, float]]:
    """One signal's list from :meth:`VectorStore.candidates`: ``(id, score)``, best first."""
    found = store.candidates({name: query}, limit, flt)
    rows, scores = found.ranked(name)
    return [
        (found.ids[row], score) for row, score in zip(rows.tolist(), scores.tolist(), strict=True)
    ]


def lists_of(found: Any) -> dict[str, list[tuple[str, float]]]:
    """Every signal's list of a :class:`Candidates`: ``(id, score)``, best first."""
    out = {}
    for name in found.names:
        rows, scores = found.ranked(name)
        out[name] = [(found.ids[r], s) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]
    return out

"""Invariants every ingested collection must hold."""

from __future__ import annotations

from collections import Counter

import numpy as np

from rag import payload as keys
from rag.embedding.base import SparseTerms
from rag.store.base import StoredPoint, VectorStore


def all_points(store: VectorStore, with_vectors: bool = True) -> list[StoredPoint]:
    points: list[StoredPoint] = []
    offset = None
    while True:
        page, offset = store.scroll(limit=256, offset=offset, with_vectors=with_vectors)
        points += page
        if offset is None:
            return points


def check_invariants(store: VectorStore, expected: int) -> list[StoredPoint]:
    """Count, unique ids and item hashes, the vectors a point's content calls for (dense ones
    finite and unit-norm, lexical terms non-empty), payload keys."""
    points = all_points(store)
    assert len(points) == expected == store.count()
    assert len({p.id for p in points}) == len(points)
    firsts = [p for p in points if not p.payload.get(keys.CHUNK_INDEX)]
    hashes = Counter(p.payload[keys.CONTENT_HASH] for p in firsts)
    assert max(hashes.values(), default=1) == 1, hashes.most_common(3)
    for point in points:
        assert set(keys.REQUIRED_KEYS) <= set(point.payload), point.payload
        wanted = {"image"} if point.payload[keys.HAS_IMAGE] else set()
        has_text = point.payload[keys.HAS_TEXT]
        wanted |= {"text"} if has_text else set()
        wanted |= {"passage"} if has_text and point.payload.get(keys.PASSAGE_MODEL) else set()
        lexical = has_text and point.payload.get(keys.LEXICAL_MODEL)
        assert set(point.vectors) - {"lexical"} == wanted, (point.payload, list(point.vectors))
        assert "lexical" not in point.vectors or lexical, point.payload
        for name, vector in point.vectors.items():
            if name == "lexical":
                assert isinstance(vector, SparseTerms) and vector.indices
                continue
            assert np.all(np.isfinite(vector))
            assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
    return points

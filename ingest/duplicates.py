"""Near-duplicate pictures at ingest: a ``duplicate_of`` link (``rag.payload.DUPLICATE_OF``) to
the earlier point whose image vector is within ``MMRAG_INGEST__DUPLICATE_THRESHOLD`` (cosine) of
a new picture's. Reported and linked, never deleted; search folds them with
``collapse:duplicate``.

Example::

    links = near_duplicates(store, keys, vectors, threshold=0.97)
    links[2]  # Link(of="<point id>", cosine=0.991): the batch's third picture copies that point
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag import payload as keys
from rag.signals import IMAGE
from rag.store.base import Filter, MatchValue, VectorStore


@dataclass(frozen=True)
class Link:
    """A picture's original: the point it nearly copies (followed to that point's own original
    when it is itself a copy), that point's item key, and the cosine that linked them."""

    of: str
    key: str
    cosine: float


def near_duplicates(
    store: VectorStore,
    item_keys: Sequence[str],
    ids: Sequence[str],
    vectors: Sequence[np.ndarray | None],
    threshold: float,
) -> dict[int, Link]:
    """Index in the batch -> the :class:`Link` of each picture that nearly copies an earlier
    one: a point already stored (of another item: ``item_keys`` leave out a picture's own
    earlier version) or an earlier picture of this batch (``ids``: their point ids). A picture
    whose original turns out to be itself (a re-ingest of the original) gets no link."""
    rows = [i for i, vector in enumerate(vectors) if vector is not None]
    if not rows:
        return {}
    matrix = np.stack([np.asarray(vectors[i], np.float64) for i in rows])
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    within = matrix @ matrix.T
    links: dict[int, Link] = {}
    for a, row in enumerate(rows):
        own = item_keys[row]
        link = _nearest_stored(store, own, matrix[a], threshold)
        inside = _nearest_earlier(a, rows, item_keys, ids, within[a], links)
        if inside is not None and inside.cosine >= threshold:
            link = inside if link is None or inside.cosine > link.cosine else link
        if link is not None and link.key != own:
            links[row] = link
    return links


def _nearest_earlier(
    a: int,
    rows: list[int],
    item_keys: Sequence[str],
    ids: Sequence[str],
    cosines: np.ndarray,
    links: dict[int, Link],
) -> Link | None:
    """The nearest picture before the ``a``-th of the batch (of another item), followed to its
    own original when it is a copy."""
    earlier = [b for b in range(a) if item_keys[rows[b]] != item_keys[rows[a]]]
    if not earlier:
        return None
    best = max(earlier, key=lambda b: cosines[b])
    first = rows[best]
    original = links.get(first) or Link(ids[first], item_keys[first], 0.0)
    return Link(original.of, original.key, float(cosines[best]))


def _nearest_stored(
    store: VectorStore, item_key: str, vector: np.ndarray, threshold: float
) -> Link | None:
    others = Filter(must_not=(MatchValue(keys.ITEM_KEY, item_key),))
    found = store.candidates({IMAGE: vector.astype(np.float32)}, 1, others)
    rows, scores = found.ranked(IMAGE)
    if not len(rows) or float(scores[0]) < threshold:
        return None
    point = found.ids[int(rows[0])]
    payload = next(iter(store.get([point])), None)
    original = payload.payload.get(keys.DUPLICATE_OF) if payload is not None else None
    if original:
        first = next(iter(store.get([str(original)])), None)
        if first is not None:
            return Link(first.id, str(first.payload.get(keys.ITEM_KEY)), float(scores[0]))
    key = payload.payload.get(keys.ITEM_KEY) if payload is not None else None
    return Link(point, str(key), float(scores[0]))

"""The vector-store seam: the types every engine speaks and the :class:`VectorStore` protocol.

A store is bound to one collection. Each point has up to two named vectors, ``image`` and
``text`` (cosine distance), and a JSON payload. A point may lack one of the vectors (an image-only
or a text-only item): it is then absent from searches over that vector, and a fused query ranks it
by the vector it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

IMAGE = "image"
TEXT = "text"
PASSAGE = "passage"
"""Dense vector of the passage model (its own size); issue "Text signals"."""
LEXICAL = "lexical"
"""Sparse BM25 vector (``rag.embedding.base.SparseTerms``), IDF modifier; issue "Text signals"."""
SIGNALS: tuple[str, ...] = (IMAGE, TEXT, PASSAGE, LEXICAL)
"""Every signal a point may carry, in the fixed order hits report their scores."""
VECTOR_NAMES: tuple[str, str] = (IMAGE, TEXT)
VectorName = Literal["image", "text"]
EngineFusion = Literal["rrf", "dbsf"]

INDEXED_PAYLOAD_FIELDS: Mapping[str, Literal["keyword", "integer", "float", "datetime", "bool"]] = {
    "source": "keyword",
    "external_id": "keyword",
    "content_hash": "keyword",
    "item_key": "keyword",
    "mime": "keyword",
    "ingested_at": "datetime",
    "tenant": "keyword",
    "kind": "keyword",
    "document.id": "keyword",
    "page": "integer",
}
"""Payload fields that get an index when a collection is created (``tenant``: a keyword index
with ``is_tenant``, so each tenant's points are stored together)."""


@dataclass(frozen=True)
class PointRecord:
    """A point to write: a UUID string id, its vectors by name, its payload."""

    id: str
    vectors: Mapping[str, np.ndarray]
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPoint:
    """A point read back. ``vectors`` is empty unless they were asked for."""

    id: str
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredPoint:
    """A search result: the engine's score (cosine for one vector, the fused score otherwise)."""

    id: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Prefetch:
    """One candidate list of a fused query: the nearest ``limit`` points of ``vector_name``."""

    vector_name: VectorName
    vector: np.ndarray
    limit: int


# --- payload filters: a small engine-neutral language that each engine translates --------------


@dataclass(frozen=True)
class MatchValue:
    """``payload[key] == value`` (for a list field: contains value)."""

    key: str
    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    """``payload[key]`` is one of ``values``."""

    key: str
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class Range:
    """Numeric range on ``payload[key]``; unset bounds are open."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class DatetimeRange:
    """Date/time range on ``payload[key]`` (RFC 3339 strings); unset bounds are open."""

    key: str
    gt: str | None = None
    gte: str | None = None
    lt: str | None = None
    lte: str | None = None


@dataclass(frozen=True)
class HasId:
    """The point's id is one of ``ids``."""

    ids: tuple[str, ...]


Condition = MatchValue | MatchAny | Range | DatetimeRange | HasId


@dataclass(frozen=True)
class Filter:
    """All of ``must`` hold, none of ``must_not`` hold, and at least one of ``should`` (if any)."""

    must: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()

    def is_empty(self) -> bool:
        return not (self.must or self.must_not or self.should)


@runtime_checkable
class VectorStore(Protocol):
    """One collection of points with named vectors ``image`` and ``text``.

    Example::

        store.ensure_collection(dim=512)
        store.upsert([PointRecord(id, {"image": v_img, "text": v_txt}, {"text": "a cat"})])
        hits = store.fused_query([Prefetch("image", q, 50), Prefetch("text", q, 50)], "rrf", 10)
    """

    collection: str

    def ensure_collection(self, dim: int) -> None:
        """Create the collection (vectors ``image``/``text``, cosine, payload indexes) or check that
        the existing one matches ``dim`` and cosine; raise ``CollectionMismatchError`` otherwise."""
        ...

    def collection_dim(self) -> int | None:
        """The vector size of the existing collection, or ``None`` when it does not exist yet."""
        ...

    def upsert(self, points: Sequence[PointRecord]) -> None:
        """Insert or replace points (all of a call's points, or none of them, become visible)."""
        ...

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredPoint]:
        """The points with these ids that exist, in the order of ``ids``."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove these points; unknown ids are ignored."""
        ...

    def delete_by_filter(self, flt: Filter) -> None:
        """Remove every point matching ``flt``."""
        ...

    def count(self, flt: Filter | None = None) -> int:
        """Exact number of points (matching ``flt``)."""
        ...

    def scroll(
        self,
        flt: Filter | None = None,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points ordered by id, and the offset of the next page (``None`` at the end)."""
        ...

    def search(
        self,
        vector_name: VectorName,
        vector: np.ndarray,
        limit: int,
        flt: Filter | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        """Nearest points by cosine over one named vector, best first."""
        ...

    def fused_query(
        self,
        prefetches: Sequence[Prefetch],
        fusion: EngineFusion,
        limit: int,
        flt: Filter | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        """Fuse the candidate lists of ``prefetches`` with the engine's RRF or DBSF, best first."""
        ...

    def optimize(self) -> bool:
        """Build search indexes now where the engine has no background optimizer (Qdrant
        Edge); True when something was optimized, False where there is nothing to do."""
        ...

    def flush(self) -> None:
        """Make every write durable."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...

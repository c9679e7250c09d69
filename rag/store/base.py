"""The vector-store seam: the types every engine speaks and the :class:`VectorStore` protocol.

A store is bound to one collection whose named vectors a :class:`CollectionLayout` describes:
dense ones (cosine: ``image``/``text`` of the CLIP model, ``passage`` of the sentence model) and
sparse ones (``lexical``: BM25 term weights, Qdrant's IDF modifier); the names are
:mod:`rag.signals`'. A point may lack any of them: it is then absent from that vector's list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np

from rag.signals import CLIP_SIGNALS, IMAGE, LEXICAL, PASSAGE, SIGNALS, TEXT
from rag.store.candidates import Candidates

if TYPE_CHECKING:  # importing rag.embedding loads open_clip; the store needs only the type
    from rag.embedding.base import SparseTerms

VECTOR_NAMES: tuple[str, ...] = CLIP_SIGNALS
"""The CLIP vectors every collection has."""
QueryVector: TypeAlias = "np.ndarray | SparseTerms"
"""A dense query vector, or the terms of a query for the sparse ``lexical`` vector."""

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


Quantization = Literal["none", "int8"]


@dataclass(frozen=True)
class VectorStorage:
    """How a new collection stores its dense vectors; an existing one keeps what it has.

    ``quantization="int8"``: scalar int8 codes (quantile 0.99, 4x smaller than float32) stay in
    RAM; a search walks the index over the codes and rescores the best ``oversampling`` x limit
    candidates with the original vectors. ``on_disk``: the original vectors are memory-mapped
    from disk (the page cache holds what is read), so with int8 RAM holds the codes and the index.
    ``hnsw_ef``: candidates an index search keeps (None: the engine's default); search-time, so
    it applies to existing collections too.
    """

    quantization: Quantization = "none"
    on_disk: bool = False
    oversampling: float = 2.0
    hnsw_ef: int | None = None


@dataclass(frozen=True)
class CollectionLayout:
    """The named vectors of a collection: ``dense`` name -> size (cosine), ``sparse`` names (IDF).

    Example::

        CollectionLayout.of(clip_dim=512, passage_dim=384, lexical=True)
        # CollectionLayout(dense={"image": 512, "text": 512, "passage": 384}, sparse=("lexical",))
    """

    dense: Mapping[str, int]
    sparse: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, clip_dim: int, passage_dim: int | None = None, lexical: bool = False
    ) -> CollectionLayout:
        """``image``/``text`` of ``clip_dim``, ``passage`` when a passage model is on, and
        ``lexical`` when lexical search is on."""
        dense: dict[str, int] = {IMAGE: clip_dim, TEXT: clip_dim}
        if passage_dim is not None:
            dense[PASSAGE] = passage_dim
        return cls(dense, (LEXICAL,) if lexical else ())

    @property
    def names(self) -> tuple[str, ...]:
        """Every vector name, signals first in :data:`SIGNALS` order."""
        known = [name for name in SIGNALS if self.has(name)]
        return (*known, *sorted(n for n in (*self.dense, *self.sparse) if n not in SIGNALS))

    @property
    def clip_dim(self) -> int:
        """The size of the ``image``/``text`` vectors."""
        return int(self.dense[IMAGE])

    def has(self, name: str) -> bool:
        return name in self.dense or name in self.sparse

    def is_sparse(self, name: str) -> bool:
        return name in self.sparse

    def missing_from(self, other: CollectionLayout) -> CollectionLayout:
        """The vectors of this layout that ``other`` lacks."""
        dense = {n: size for n, size in self.dense.items() if n not in other.dense}
        return CollectionLayout(dense, tuple(n for n in self.sparse if n not in other.sparse))

    def is_empty(self) -> bool:
        return not (self.dense or self.sparse)


@dataclass(frozen=True)
class PointRecord:
    """A point to write: a UUID string id, its vectors by name (a float array for a dense
    vector, :class:`SparseTerms` for ``lexical``), its payload."""

    id: str
    vectors: Mapping[str, np.ndarray | SparseTerms]
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPoint:
    """A point read back. ``vectors`` is empty unless they were asked for."""

    id: str
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray | SparseTerms] = field(default_factory=dict)


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
    """One collection of points with the named vectors of a :class:`CollectionLayout`.

    Example::

        store.ensure_collection(CollectionLayout.of(512, passage_dim=384, lexical=True))
        store.upsert([PointRecord(id, {"image": v_img, "lexical": terms}, {"text": "a cat"})])
        found = store.candidates({"image": q, "lexical": terms}, limit=50)
    """

    collection: str

    def ensure_collection(self, layout: CollectionLayout) -> None:
        """Create the collection with ``layout`` (and the payload indexes), or check the existing
        one: a vector of ``layout`` stored with another size or distance raises
        ``CollectionMismatchError``; vectors ``layout`` adds are created in place (points written
        before lack them until re-ingested); vectors the collection has beyond ``layout`` stay."""
        ...

    def collection_layout(self) -> CollectionLayout | None:
        """The vectors of the existing collection, or ``None`` when it does not exist yet."""
        ...

    def collection_dim(self) -> int | None:
        """The size of the ``image``/``text`` vectors, or ``None`` when there is no collection."""
        ...

    def upsert(self, points: Sequence[PointRecord]) -> None:
        """Insert or replace points (all of a call's points, or none of them, become visible)."""
        ...

    def get(
        self, ids: Sequence[str], with_vectors: bool | Sequence[str] = False
    ) -> list[StoredPoint]:
        """The points with these ids that exist, in the order of ``ids``; ``with_vectors``: all
        their vectors, or only those named."""
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

    def candidates(
        self, queries: Mapping[str, QueryVector], limit: int, flt: Filter | None = None
    ) -> Candidates:
        """Each named query's ``limit`` nearest points (matching ``flt``), best first: by cosine
        for a dense vector, by the IDF-weighted sum of shared terms for a sparse one (points
        sharing no term are left out; a query without terms finds nothing), and every one of
        them scored exactly for every query (:class:`Candidates`)."""
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

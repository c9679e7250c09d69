"""The qdrant-client engine: a Qdrant server or cluster by URL, or qdrant-client's local mode
(in memory or on disk) for tests of that code path.

Local mode keeps everything in Python and is not thread-safe, so its calls are serialised by a
lock; a remote client is used concurrently.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from rag.errors import InvalidInputError, MmragError, StoreError
from rag.payload import TENANT
from rag.store import convert
from rag.store.base import (
    INDEXED_PAYLOAD_FIELDS,
    CollectionLayout,
    Filter,
    PointRecord,
    QueryVector,
    StoredPoint,
    VectorStorage,
)
from rag.store.candidates import Candidates
from rag.store.client_filters import client_filter

log = logging.getLogger(__name__)

_SCHEMA_TYPES = {
    "keyword": qm.PayloadSchemaType.KEYWORD,
    "integer": qm.PayloadSchemaType.INTEGER,
    "float": qm.PayloadSchemaType.FLOAT,
    "datetime": qm.PayloadSchemaType.DATETIME,
    "bool": qm.PayloadSchemaType.BOOL,
}


class QdrantClientStore:
    """A :class:`rag.store.base.VectorStore` over a ``QdrantClient`` (remote or local mode).

    Example::

        store = QdrantClientStore(QdrantClient(url="http://localhost:6333"), "mmrag", local=False)
        store.ensure_collection(CollectionLayout.of(512, passage_dim=384, lexical=True))
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        local: bool,
        *,
        shards: int = 1,
        replication_factor: int = 1,
        write_consistency_factor: int = 1,
        storage: VectorStorage | None = None,
    ) -> None:
        self.client = client
        self.collection = collection
        self.local = local
        self._cluster = {
            "shard_number": shards,
            "replication_factor": replication_factor,
            "write_consistency_factor": write_consistency_factor,
        }  # how a server or cluster lays out a new collection
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if local else contextlib.nullcontext()
        )
        self._layout: CollectionLayout | None = None
        self.storage = storage or VectorStorage()
        """How a collection created here stores its dense vectors (a server applies it; local
        mode records it and scans float vectors). An existing collection keeps its own."""

    # --- lifecycle ---------------------------------------------------------------------------

    def ensure_collection(self, layout: CollectionLayout) -> None:
        layout = convert.require_layout(layout)
        with self._engine():
            found = self._stored_layout()
            if found is not None:
                convert.check_layout(self.collection, found, layout)
                self._add_vectors(layout.missing_from(found.layout()))
                self._note_kept_storage()
            else:
                self._create(layout)
            self._layout = None
            self._ensure_indexes()

    def _create(self, layout: CollectionLayout) -> None:
        """Create the collection; another process creating it at the same moment is fine."""
        cluster = {} if self.local else self._cluster
        try:
            self.client.create_collection(
                self.collection,
                vectors_config={
                    name: qm.VectorParams(
                        size=size, distance=qm.Distance.COSINE, on_disk=self.storage.on_disk or None
                    )
                    for name, size in layout.dense.items()
                },
                quantization_config=_quantization_config(self.storage),
                sparse_vectors_config={
                    name: qm.SparseVectorParams(modifier=qm.Modifier.IDF) for name in layout.sparse
                }
                or None,
                shard_number=cluster.get("shard_number"),
                replication_factor=cluster.get("replication_factor"),
                write_consistency_factor=cluster.get("write_consistency_factor"),
            )
        except Exception:
            found = self._stored_layout()
            if found is None:
                raise
            convert.check_layout(self.collection, found, layout)

    def collection_layout(self) -> CollectionLayout | None:
        with self._engine():
            found = self._stored_layout()
        return None if found is None else found.layout()

    def collection_dim(self) -> int | None:
        layout = self.collection_layout()
        return None if layout is None else layout.clip_dim

    def flush(self) -> None:
        """Nothing to do: local mode writes through, and a server acknowledges durable writes."""

    def optimize(self) -> bool:
        """Nothing to do (a server optimizes in the background; local mode has no index)."""
        return False

    def close(self) -> None:
        with self._engine():
            self.client.close()

    # --- writes ------------------------------------------------------------------------------

    def upsert(self, points: Sequence[PointRecord]) -> None:
        if not points:
            return
        layout = self._require_layout()
        structs = [
            qm.PointStruct(
                id=convert.canonical_id(p.id),
                vector=convert.point_vectors(p, layout, _sparse),
                payload=convert.json_payload(p.payload),
            )
            for p in points
        ]
        with self._engine():
            self.client.upsert(self.collection, points=structs, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        self._require_layout()
        selector = qm.PointIdsList(points=list(convert.canonical_ids(ids)))
        with self._engine():
            self.client.delete(self.collection, points_selector=selector, wait=True)

    def delete_by_filter(self, flt: Filter) -> None:
        self._require_layout()
        selector = qm.FilterSelector(filter=client_filter(flt) or qm.Filter())
        with self._engine():
            self.client.delete(self.collection, points_selector=selector, wait=True)

    # --- reads -------------------------------------------------------------------------------

    def get(
        self, ids: Sequence[str], with_vectors: bool | Sequence[str] = False
    ) -> list[StoredPoint]:
        wanted = convert.canonical_ids(ids)
        if not wanted:
            return []
        self._require_layout()
        vectors = with_vectors if isinstance(with_vectors, bool) else list(with_vectors)
        with self._engine():
            records = self.client.retrieve(
                self.collection, ids=wanted, with_payload=True, with_vectors=vectors
            )
        points = [convert.stored_point(record) for record in records]
        return convert.ordered_like(wanted, points, key=lambda p: p.id)

    def count(self, flt: Filter | None = None) -> int:
        self._require_layout()
        with self._engine():
            result = self.client.count(self.collection, count_filter=client_filter(flt), exact=True)
        return int(result.count)

    def scroll(
        self,
        flt: Filter | None = None,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        convert.check_limit(limit)
        self._require_layout()
        with self._engine():
            records, next_offset = self.client.scroll(
                self.collection,
                scroll_filter=client_filter(flt),
                limit=limit,
                offset=None if offset is None else convert.canonical_id(offset),
                with_payload=True,
                with_vectors=with_vectors,
            )
        nxt = None if next_offset is None else convert.canonical_id(next_offset)
        return [convert.stored_point(record) for record in records], nxt

    def candidates(
        self, queries: Mapping[str, QueryVector], limit: int, flt: Filter | None = None
    ) -> Candidates:
        """One batch of searches (no payloads), then the cells the lists leave open from one
        batch of exact searches restricted to the ids a fusion reads."""
        convert.check_limit(limit)
        layout = self._require_layout()
        found = self._query_each(queries, limit, flt)
        lists = {name: convert.id_scores(found.get(name, [])) for name in queries}
        complete = {n: not layout.is_sparse(n) and len(lists[n]) < limit for n in queries}
        return Candidates.from_lists(
            lists, complete, lambda ids, names: self._scores_of(ids, {n: queries[n] for n in names})
        )

    def _scores_of(
        self, ids: Sequence[str], queries: Mapping[str, QueryVector]
    ) -> dict[str, dict[str, float]]:
        """The exact score of each of ``ids`` against each named query (one batch); a point with
        a sparse vector sharing no term with the query scores 0."""
        wanted = convert.canonical_ids(ids)
        out: dict[str, dict[str, float]] = {name: {} for name in queries}
        if not wanted:
            return out
        layout = self._require_layout()
        found = self._query_each(queries, len(wanted), convert.restricted(wanted, None), exact=True)
        for name, points in found.items():
            out[name] = {convert.canonical_id(p.id): float(p.score) for p in points}
        for name in queries:
            if layout.is_sparse(name):
                unscored = [pid for pid in wanted if pid not in out[name]]
                out[name].update(dict.fromkeys(self._having(name, unscored, None), 0.0))
        return out

    def _query_each(
        self,
        queries: Mapping[str, QueryVector],
        limit: int,
        flt: Filter | None,
        exact: bool = False,
    ) -> dict[str, list[Any]]:
        """The engine's points of one search per named query, in one batch, without payloads (a
        sparse query with no terms is left out: it matches nothing)."""
        layout = self._require_layout()
        condition = client_filter(flt)
        requests, names = [], []
        for name, vector in queries.items():
            query = convert.query_value(name, vector, layout, _sparse)
            if query is not None:
                names.append(name)
                requests.append(
                    qm.QueryRequest(
                        query=query,
                        using=name,
                        filter=condition,
                        limit=limit,
                        with_payload=False,
                        params=self._search_params(exact),
                    )
                )
        if not requests:
            return {}
        with self._engine():
            responses = self.client.query_batch_points(self.collection, requests)
        return {name: r.points for name, r in zip(names, responses, strict=True)}

    def _having(self, name: str, ids: Sequence[str], flt: Filter | None) -> list[str]:
        """Those of ``ids`` (matching ``flt``) that have vector ``name``."""
        if not ids:
            return []
        base = client_filter(convert.restricted(ids, flt))
        assert base is not None
        must = [*(base.must or []), qm.HasVectorCondition(has_vector=name)]
        with self._engine():
            records, _ = self.client.scroll(
                self.collection,
                scroll_filter=qm.Filter(must=must, should=base.should, must_not=base.must_not),
                limit=len(ids),
                with_payload=False,
                with_vectors=False,
            )
        return [convert.canonical_id(record.id) for record in records]

    def stored_quantization(self) -> str | None:
        """The quantization of the collection's dense vectors as stored (``none``, ``int8``, or
        another Qdrant kind such as ``binary``); None before the collection exists."""
        with self._engine():
            if not self.client.collection_exists(self.collection):
                return None
            params = self.client.get_collection(self.collection).config
        vectors = params.params.vectors
        per_vector = vectors.values() if isinstance(vectors, dict) else [vectors]
        found = [params.quantization_config] + [v.quantization_config for v in per_vector if v]
        for quantization in filter(None, found):
            if isinstance(quantization, qm.ScalarQuantization):
                return "int8"
            return type(quantization).__name__.removesuffix("Quantization").lower()
        return "none"

    # --- internals ---------------------------------------------------------------------------

    def _search_params(self, exact: bool = False) -> qm.SearchParams | None:
        """Exact scans the original vectors; with ``int8`` a search rescores ``oversampling`` x
        limit candidates with them (local mode takes no search params)."""
        if self.local:
            return None
        quantized, ef = self.storage.quantization != "none", self.storage.hnsw_ef
        if exact:
            ignore = qm.QuantizationSearchParams(ignore=True) if quantized else None
            return qm.SearchParams(exact=True, quantization=ignore)
        if not quantized and ef is None:
            return None
        rescore = qm.QuantizationSearchParams(rescore=True, oversampling=self.storage.oversampling)
        return qm.SearchParams(hnsw_ef=ef, quantization=rescore if quantized else None)

    def _note_kept_storage(self) -> None:
        """Warn when the settings ask for another quantization than the collection has (local
        mode keeps none: it scans float vectors)."""
        if self.local:
            return
        stored = self.stored_quantization()
        if stored is not None and stored != self.storage.quantization:
            log.warning(
                "collection %r keeps its %s quantization: MMRAG_STORE__QUANTIZATION=%s applies to "
                "collections created from now on (re-create it to change, or change it on the "
                "server with update_collection; docs/store.md)",
                self.collection,
                stored,
                self.storage.quantization,
            )

    @contextlib.contextmanager
    def _engine(self) -> Iterator[None]:
        """Serialise local mode and turn the client's errors into ``StoreError``."""
        with self._lock:
            try:
                yield
            except MmragError:
                raise
            except Exception as exc:
                raise StoreError(f"Qdrant failed on {self.collection!r}: {exc}") from exc

    def _stored_layout(self) -> convert.StoredLayout | None:
        if not self.client.collection_exists(self.collection):
            return None
        params = self.client.get_collection(self.collection).config.params
        vectors = params.vectors
        if isinstance(vectors, qm.VectorParams):
            vectors = {"": vectors}
        dense = {name: (int(v.size), str(v.distance.value)) for name, v in (vectors or {}).items()}
        sparse = {
            name: None if v.modifier is None else str(v.modifier.value)
            for name, v in (params.sparse_vectors or {}).items()
        }
        return convert.StoredLayout(dense, sparse)

    def _add_vectors(self, added: CollectionLayout) -> None:
        """Create the vectors of ``added`` in place (``create_vector_name``: local mode and
        servers that support it)."""
        if added.is_empty():
            return
        configs: dict[str, Any] = {
            name: qm.DenseVectorNameConfig(
                dense=qm.DenseVectorConfig(size=size, distance=qm.Distance.COSINE)
            )
            for name, size in added.dense.items()
        }
        for name in added.sparse:
            configs[name] = qm.SparseVectorNameConfig(
                sparse=qm.SparseVectorConfig(modifier=qm.Modifier.IDF)
            )
        try:
            for name, config in configs.items():
                self.client.create_vector_name(self.collection, name, config, wait=True)
        except Exception as exc:
            raise convert.cannot_add_vectors(self.collection, added, exc) from exc
        log.warning(convert.added_vectors_note(self.collection, added))

    def _ensure_indexes(self) -> None:
        if self.local:
            return  # local mode has no payload indexes (it scans); creating them only warns
        schema = self.client.get_collection(self.collection).payload_schema
        for field_name, kind in INDEXED_PAYLOAD_FIELDS.items():
            if field_name not in schema:
                self.client.create_payload_index(
                    self.collection, field_name, field_schema=_schema(field_name, kind), wait=True
                )

    def _require_layout(self) -> CollectionLayout:
        if self._layout is None:
            self._layout = self.collection_layout()
            if self._layout is None:
                raise convert.missing_collection(self.collection)
        return self._layout


def _sparse(indices: list[int], values: list[float]) -> qm.SparseVector:
    return qm.SparseVector(indices=indices, values=values)


def _quantization_config(storage: VectorStorage) -> qm.ScalarQuantization | None:
    if storage.quantization == "none":
        return None
    if storage.quantization == "int8":
        return qm.ScalarQuantization(
            scalar=qm.ScalarQuantizationConfig(
                type=qm.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )
    raise InvalidInputError(f"unknown quantization {storage.quantization!r}: use 'none' or 'int8'")


def _schema(field_name: str, kind: str) -> Any:
    if field_name == TENANT:  # the tenant index groups each tenant's points on disk
        return qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, is_tenant=True)
    return _SCHEMA_TYPES[kind]

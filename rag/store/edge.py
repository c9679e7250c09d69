"""The embedded engine: one Qdrant Edge shard on disk per collection, in this process.

A shard folder can be open in one process (and one store) at a time: the store takes mmrag's
lock file (:mod:`rag.store.locking`) before it touches the shard and holds it until ``close``.
Reads run concurrently; writes and open/close are serialised by a lock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from rag.errors import InvalidInputError, MmragError, StoreError
from rag.payload import TENANT
from rag.store import convert
from rag.store.base import (
    INDEXED_PAYLOAD_FIELDS,
    VECTOR_NAMES,
    EngineFusion,
    Filter,
    PointRecord,
    Prefetch,
    ScoredPoint,
    StoredPoint,
    VectorName,
)
from rag.store.edge_filters import edge_filter
from rag.store.locking import FolderLock
from rag.store.space import check_free_space

CONFIG_FILE = "edge_config.json"

_SCHEMA_TYPES = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "datetime": qe.PayloadSchemaType.Datetime,
    "bool": qe.PayloadSchemaType.Bool,
}
_TENANT_INDEX = qe.KeywordIndexParams(is_tenant=True)


class EdgeStore:
    """A :class:`rag.store.base.VectorStore` over a Qdrant Edge shard at ``path``.

    Example::

        store = EdgeStore(data_dir / "qdrant-edge" / "mmrag", "mmrag")
        store.ensure_collection(dim=512)
    """

    def __init__(self, path: Path, collection: str, min_free_bytes: int = 0) -> None:
        self.path = Path(path)
        self.collection = collection
        self.min_free_bytes = min_free_bytes
        """Writes are refused below this much free disk (:mod:`rag.store.space`)."""
        self._lock = threading.RLock()
        self._shard: qe.EdgeShard | None = None
        self._dim: int | None = None
        self._closed = False
        self._folder_lock = FolderLock.acquire(self.path)  # StoreLockedError: shard untouched
        if (self.path / CONFIG_FILE).exists():
            try:
                self._open(lambda: qe.EdgeShard.load(str(self.path)))
            except BaseException:
                self._folder_lock.release()
                raise

    # --- lifecycle ---------------------------------------------------------------------------

    def ensure_collection(self, dim: int) -> None:
        with self._lock:
            if self._closed:
                raise StoreError(f"the store of collection {self.collection!r} is closed")
            found = self._stored_layout()
            if found is not None:
                convert.check_dims(self.collection, found, dim)
                if self._shard is None:
                    self._open(lambda: qe.EdgeShard.load(str(self.path)))
            else:
                check_free_space(self.path.parent, self.min_free_bytes)
                params = qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)
                config = qe.EdgeConfig(vectors=dict.fromkeys(VECTOR_NAMES, params))
                self.path.mkdir(parents=True, exist_ok=True)
                self._open(lambda: qe.EdgeShard.create(str(self.path), config))
            self._dim = dim
            self._ensure_indexes()

    def collection_dim(self) -> int | None:
        found = self._stored_layout()
        if not found:
            return None
        return next(iter(found.values()))[0]

    def flush(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._call(self._shard.flush)

    def optimize(self) -> bool:
        """Merge segments and build HNSW indexes now, blocking (Edge has no background
        optimizer; until this runs, searches scan). True when something was optimized."""
        check_free_space(self.path.parent, self.min_free_bytes)
        with self._lock:
            return bool(self._call(self._require_shard().optimize))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            shard, self._shard = self._shard, None
            try:
                if shard is not None:
                    self._call(shard.flush)
                    self._call(shard.close)
            finally:
                self._folder_lock.release()

    # --- writes ------------------------------------------------------------------------------

    def upsert(self, points: Sequence[PointRecord]) -> None:
        if not points:
            return
        dim = self._require_dim()
        edge_points = [
            qe.Point(
                convert.canonical_id(p.id),
                convert.vector_lists(p, dim),  # type: ignore[arg-type]
                convert.json_payload(p.payload),
            )
            for p in points
        ]
        self._write(qe.UpdateOperation.upsert_points(edge_points))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            point_ids: list[qe.PointId] = list(convert.canonical_ids(ids))
            self._write(qe.UpdateOperation.delete_points(point_ids))

    def delete_by_filter(self, flt: Filter) -> None:
        self._write(qe.UpdateOperation.delete_points_by_filter(edge_filter(flt) or qe.Filter()))

    # --- reads -------------------------------------------------------------------------------

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredPoint]:
        wanted = convert.canonical_ids(ids)
        if not wanted:
            return []
        shard = self._require_shard()
        records = self._call(shard.retrieve, wanted, True, with_vectors)
        points = [convert.stored_point(record) for record in records]
        return convert.ordered_like(wanted, points, key=lambda p: p.id)

    def count(self, flt: Filter | None = None) -> int:
        shard = self._require_shard()
        return int(self._call(shard.count, qe.CountRequest(exact=True, filter=edge_filter(flt))))

    def scroll(
        self,
        flt: Filter | None = None,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        convert.check_limit(limit)
        shard = self._require_shard()
        request = qe.ScrollRequest(
            offset=None if offset is None else convert.canonical_id(offset),
            limit=limit,
            filter=edge_filter(flt),
            with_payload=True,
            with_vector=with_vectors,
        )
        records, next_offset = self._call(shard.scroll, request)
        nxt = None if next_offset is None else convert.canonical_id(next_offset)
        return [convert.stored_point(record) for record in records], nxt

    def search(
        self,
        vector_name: VectorName,
        vector: np.ndarray,
        limit: int,
        flt: Filter | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        convert.check_limit(limit)
        dense = convert.query_vector(vector, self._require_dim())
        query = qe.Query.Nearest(dense, using=vector_name)
        request = qe.QueryRequest(
            limit=limit,
            query=query,
            filter=edge_filter(flt),
            with_payload=True,
            with_vector=with_vectors,
        )
        return self._query(request)

    def fused_query(
        self,
        prefetches: Sequence[Prefetch],
        fusion: EngineFusion,
        limit: int,
        flt: Filter | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredPoint]:
        convert.check_limit(limit)
        convert.check_prefetches(prefetches)
        dim = self._require_dim()
        condition = edge_filter(flt)
        stages = [
            qe.Prefetch(
                limit=p.limit,
                query=qe.Query.Nearest(convert.query_vector(p.vector, dim), using=p.vector_name),
                filter=condition,
            )
            for p in prefetches
        ]
        request = qe.QueryRequest(
            limit=limit,
            prefetches=stages,
            query=_fusion(fusion),
            filter=condition,
            with_payload=True,
            with_vector=with_vectors,
        )
        return self._query(request)

    # --- internals ---------------------------------------------------------------------------

    def _query(self, request: qe.QueryRequest) -> list[ScoredPoint]:
        shard = self._require_shard()
        hits = self._call(shard.query, request)
        return convert.sort_hits([convert.scored_point(hit) for hit in hits])

    def _write(self, operation: qe.UpdateOperation) -> None:
        check_free_space(self.path.parent, self.min_free_bytes)
        with self._lock:
            self._call(self._require_shard().update, operation)

    def _stored_layout(self) -> dict[str, tuple[int, str]] | None:
        config_path = self.path / CONFIG_FILE
        if not config_path.exists():
            return None
        vectors = json.loads(config_path.read_text(encoding="utf-8")).get("vectors", {})
        return {name: (int(v["size"]), str(v["distance"])) for name, v in vectors.items()}

    def _ensure_indexes(self) -> None:
        shard = self._require_shard()
        present = set(self._call(shard.info).payload_schema)
        for field_name, kind in INDEXED_PAYLOAD_FIELDS.items():
            if field_name not in present:
                schema = _TENANT_INDEX if field_name == TENANT else _SCHEMA_TYPES[kind]
                op = qe.UpdateOperation.create_field_index(field_name, schema)
                self._call(shard.update, op)

    def _open(self, opener: Any) -> None:
        try:
            self._shard = opener()
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise StoreError(
                    f"the Qdrant Edge shard at {self.path} is open in another process (or another "
                    "store of this one): stop it, or use a Qdrant server (MMRAG_STORE__URL) to "
                    "share a collection"
                ) from exc
            raise StoreError(f"cannot open the Qdrant Edge shard at {self.path}: {exc}") from exc
        layout = self._stored_layout() or {}
        self._dim = next(iter(layout.values()))[0] if layout else None

    def _require_shard(self) -> qe.EdgeShard:
        shard = self._shard
        if shard is None:
            if self._closed:
                raise StoreError(f"the store of collection {self.collection!r} is closed")
            raise convert.missing_collection(self.collection)
        return shard

    def _require_dim(self) -> int:
        self._require_shard()
        assert self._dim is not None
        return self._dim

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except MmragError:
            raise
        except Exception as exc:
            raise StoreError(f"Qdrant Edge failed on {self.collection!r}: {exc}") from exc


def _fusion(fusion: EngineFusion) -> Any:
    if fusion == "rrf":
        return qe.Fusion.Rrf(k=convert.ENGINE_RRF_K)
    if fusion == "dbsf":
        return qe.Fusion.Dbsf()
    raise InvalidInputError(f"unknown fusion {fusion!r}: use 'rrf' or 'dbsf'")

"""The embedded engine: one Qdrant Edge shard on disk per collection, in this process.

A shard folder can be open in one process (and one store) at a time: the store takes mmrag's
lock file (:mod:`rag.store.locking`) before it touches the shard and holds it until ``close``.
Reads run concurrently; writes and open/close are serialised by a lock. A small collection's
searches are answered from a numpy copy of its vectors (:mod:`rag.store.edge_copy`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

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
from rag.store.candidates import Candidates, DeferredCandidates, UuidIds
from rag.store.edge_copy import KeptCopy, VectorCopy
from rag.store.edge_filters import edge_filter
from rag.store.locking import FolderLock
from rag.store.space import check_free_space

log = logging.getLogger(__name__)

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
        store.ensure_collection(CollectionLayout.of(512, passage_dim=384, lexical=True))
    """

    def __init__(
        self,
        path: Path,
        collection: str,
        min_free_bytes: int = 0,
        storage: VectorStorage | None = None,
        vector_copy_max_points: int = 0,
        exact_scan_max_points: int = 0,
    ) -> None:
        self.path = Path(path)
        self.collection = collection
        self.min_free_bytes = min_free_bytes
        """Writes are refused below this much free disk (:mod:`rag.store.space`)."""
        self._kept = KeptCopy(self, vector_copy_max_points, exact_scan_max_points)
        self._complete: dict[str, bool] = {}
        """Sparse vector name: whether every point has it (absent: not known). Kept in step with
        the writes, which only this store makes (it holds the folder lock)."""
        self.storage = storage or VectorStorage()
        """How a collection created here stores its dense vectors (an existing one keeps its
        own: :meth:`stored_quantization`)."""
        self._lock = threading.RLock()
        self._shard: qe.EdgeShard | None = None
        self._layout: CollectionLayout | None = None
        self._quantized = False
        self._closed = False
        self._folder_lock = FolderLock.acquire(self.path)  # StoreLockedError: shard untouched
        if (self.path / CONFIG_FILE).exists():
            try:
                self._open(lambda: qe.EdgeShard.load(str(self.path)))
            except BaseException:
                self._folder_lock.release()
                raise

    # --- lifecycle ---------------------------------------------------------------------------

    def ensure_collection(self, layout: CollectionLayout) -> None:
        layout = convert.require_layout(layout)
        with self._lock:
            if self._closed:
                raise StoreError(f"the store of collection {self.collection!r} is closed")
            found = self._stored_layout()
            if found is not None:
                convert.check_layout(self.collection, found, layout)
                if self._shard is None:
                    self._open(lambda: qe.EdgeShard.load(str(self.path)))
                self._add_vectors(layout.missing_from(found.layout()))
                self._note_kept_storage()
            else:
                check_free_space(self.path.parent, self.min_free_bytes)
                self.path.mkdir(parents=True, exist_ok=True)
                config = _edge_config(layout, self.storage)
                self._open(lambda: qe.EdgeShard.create(str(self.path), config))
            self._layout = self._read_layout()
            self._ensure_indexes()

    def collection_layout(self) -> CollectionLayout | None:
        found = self._stored_layout()
        return None if found is None else found.layout()

    def collection_dim(self) -> int | None:
        layout = self.collection_layout()
        return None if layout is None else layout.clip_dim

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
        self._kept.close()
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
        layout = self._require_layout()
        vectors = [convert.point_vectors(p, layout, qe.SparseVector) for p in points]
        edge_points = [
            qe.Point(convert.canonical_id(p.id), named, convert.json_payload(p.payload))
            for p, named in zip(points, vectors, strict=True)
        ]
        lacking = {name for name in layout.sparse for named in vectors if name not in named}
        with self._lock:
            self._complete.update(dict.fromkeys(lacking, False))  # before searches can see them
            self._write(qe.UpdateOperation.upsert_points(edge_points))
            self._kept.written((convert.canonical_id(p.id), p.vectors) for p in points)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            point_ids: list[qe.PointId] = list(convert.canonical_ids(ids))
            with self._lock:
                self._write(qe.UpdateOperation.delete_points(point_ids))
                self._forget_incomplete()
                self._kept.removed(str(i) for i in point_ids)

    def delete_by_filter(self, flt: Filter) -> None:
        with self._lock:
            self._write(qe.UpdateOperation.delete_points_by_filter(edge_filter(flt) or qe.Filter()))
            self._kept.forget()
            self._forget_incomplete()

    # --- reads -------------------------------------------------------------------------------

    def get(
        self, ids: Sequence[str], with_vectors: bool | Sequence[str] = False
    ) -> list[StoredPoint]:
        wanted = convert.canonical_ids(ids)
        if not wanted:
            return []
        shard = self._require_shard()
        vectors = with_vectors if isinstance(with_vectors, bool) else list(with_vectors)
        copy = None if isinstance(vectors, bool) or not vectors else self._kept.ready(vectors)
        chosen = _Chosen(wanted, None)  # returned ids map back without formatting a UUID
        records = self._call(shard.retrieve, wanted, True, False if copy is not None else vectors)
        found = {chosen.id_of(record.id): record for record in records}
        if copy is not None and isinstance(vectors, list):  # named dense: gathered from the copy
            held = copy.vectors([pid for pid in wanted if pid in found], vectors)
            return [
                StoredPoint(pid, dict(record.payload or {}), held.get(pid, {}))
                for pid in wanted
                if (record := found.get(pid)) is not None
            ]
        return [
            StoredPoint(pid, dict(record.payload or {}), convert.float32_vectors(record.vector))
            for pid in wanted
            if (record := found.get(pid)) is not None
        ]

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

    def candidates(
        self, queries: Mapping[str, QueryVector], limit: int, flt: Filter | None = None
    ) -> Candidates:
        convert.check_limit(limit)
        layout = self._require_layout()
        condition = edge_filter(flt)
        copy = self._kept.ready(queries)
        if copy is not None:  # every query dense and in the complete copy
            checked = self._checked(list(queries.items()))
            if self._kept.scans(copy, flt is not None and not flt.is_empty()):
                return copy.scan(checked, limit)
            queries = dict(checked)
        nearest = {name: self._nearest(name, vector) for name, vector in queries.items()}

        def read() -> Candidates:
            found = self._query_each(queries, limit, condition, nearest=nearest)
            if copy is not None:  # scored from the copy, by the ids' integers
                return copy.scored(checked, [[h.id for h in found.get(n, [])] for n in queries])
            complete = {
                name: not layout.is_sparse(name) and len(found.get(name, ())) < limit
                for name in queries
            }
            lists = {name: _keyed(found.get(name, [])) for name in queries}
            return Candidates.from_lists(lists, complete, lookup, _point_ids)

        def fuse(
            mode: str, weights: Mapping[str, float], top: int, rrf_k: int
        ) -> list[tuple[Hashable, float]] | None:
            return self._fused(nearest, limit, condition, (mode, weights, top, rrf_k))

        def lookup(ids: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, float]]:
            return self._scores_of(ids, {name: queries[name] for name in names})

        return DeferredCandidates(list(queries), read, fuse, _point_ids, lookup)

    def _fused(
        self,
        nearest: Mapping[str, Any],
        limit: int,
        condition: qe.Filter | None,
        fusion: tuple[str, Mapping[str, float], int, int],
    ) -> list[tuple[Hashable, float]] | None:
        """The engine's own RRF or DBSF of each ``nearest`` query's ``limit`` best: ``(key, fused
        score)`` of its ``top`` best (:func:`_keyed`), ``None`` for another fusion. One engine
        call that returns a few points, where the lists are hundreds (each id read costs a
        ``uuid.UUID``)."""
        mode, weights, top, rrf_k = fusion
        mean = sum(weights.get(name, 1.0) for name in nearest) / max(len(nearest), 1)
        stages, relative = [], []
        for name, query in nearest.items():
            if query is not None:
                params = self._search_params()
                stage = qe.Prefetch(limit=limit, query=query, filter=condition, params=params)
                stages.append(stage)
                relative.append(weights.get(name, 1.0) / mean if mean > 0 else 0.0)
        if mode not in ("rrf", "dbsf") or any(w <= 0 for w in relative):
            return None  # weighted (exact scores), or a weight that drops a list: fuse the lists
        if not stages:
            return []
        engine_fusion: Any
        if mode == "rrf":
            given = None if all(w == 1.0 for w in relative) else relative
            engine_fusion = qe.Fusion.Rrf(k=rrf_k, weights=given)
        else:
            engine_fusion = qe.Fusion.Dbsf()
        request = qe.QueryRequest(
            limit=top,
            prefetches=stages,
            query=engine_fusion,
            filter=condition,
            with_payload=False,
            with_vector=False,
        )
        return _keyed(self._call(self._require_shard().query, request))

    def _scores_of(
        self, ids: Sequence[str], queries: Mapping[str, QueryVector]
    ) -> dict[str, dict[str, float]]:
        """The exact score of each point of ``ids`` against each named query: from the copy
        for its dense vectors, else one restricted exact search per name in one batch; a point
        with a sparse vector sharing no term with the query scores 0."""
        wanted = convert.canonical_ids(ids)
        out: dict[str, dict[str, float]] = {name: {} for name in queries}
        if not wanted:
            return out
        layout = self._require_layout()
        copy = self._kept.ready(())
        chosen = _Chosen(wanted, None)  # the ids are converted once, when the engine is asked
        asked = dict(queries)
        if copy is not None:
            copied = {n: self._dense(n, v) for n, v in queries.items() if n in copy.dims}
            out.update(copy.scores_of(copied, wanted))
            asked = {n: v for n, v in queries.items() if n not in copy.dims}
        if asked:
            found = self._query_each(asked, len(wanted), chosen.condition(), exact=True)
            out.update((name, chosen.scores(hits)) for name, hits in found.items())
        for name in queries:
            if layout.is_sparse(name) and len(out[name]) < len(wanted):
                having = self._having(name, chosen, copy, out)
                out[name].update((pid, 0.0) for pid in having if pid not in out[name])
        return out

    def _query_each(
        self,
        queries: Mapping[str, QueryVector],
        limit: int,
        condition: qe.Filter | None,
        exact: bool = False,
        nearest: Mapping[str, Any] | None = None,
    ) -> dict[str, list[Any]]:
        """Edge's scored points of one search per named query, in one batch, without payloads
        (a sparse query with no terms is left out: it matches nothing). ``nearest``: the
        queries as Edge queries already (:meth:`_nearest`)."""
        requests, names = [], []
        for name, vector in queries.items():
            query = self._nearest(name, vector) if nearest is None else nearest[name]
            if query is not None:
                names.append(name)
                requests.append(
                    qe.QueryRequest(
                        limit=limit,
                        query=query,
                        filter=condition,
                        with_payload=False,
                        with_vector=False,
                        params=self._search_params(exact),
                    )
                )
        if not requests:
            return {}
        batches = self._call(self._require_shard().query_batch, qe.QueryBatchRequest(requests))
        return dict(zip(names, batches, strict=True))

    def _having(
        self,
        name: str,
        chosen: _Chosen,
        copy: VectorCopy | None,
        scored: Mapping[str, Mapping[str, float]],
    ) -> list[str]:
        """Those of the chosen points that have vector ``name`` (``scored``: the scores this call
        found, of points that exist and match the filter)."""
        if copy is not None:
            return copy.having(name, chosen.ids)
        if self._every_point_has(name) and set().union(*scored.values()).issuperset(chosen.ids):
            return chosen.ids
        shard = self._require_shard()
        condition = chosen.condition(qe.HasVectorCondition(name))
        counted = self._call(shard.count, qe.CountRequest(exact=True, filter=condition))
        if counted == len(chosen.ids):  # the usual case: every one has it (no ids to convert)
            return chosen.ids
        request = qe.ScrollRequest(
            limit=len(chosen.ids),
            filter=condition,
            with_payload=False,
            with_vector=False,
        )
        records, _ = self._call(shard.scroll, request)
        return [chosen.id_of(record.id) for record in records]

    def _checked(self, queries: Sequence[tuple[str, QueryVector]]) -> list[tuple[str, np.ndarray]]:
        """``(dense name, unit vector)`` queries checked as the engine checks them and
        normalised as its cosine does (a vector given for several names, as CLIP's for image and
        text, once)."""
        sizes = self._require_layout().dense
        checked: dict[tuple[int, int], np.ndarray] = {}
        out = []
        for name, vector in queries:
            key = (id(vector), sizes[name])
            if key not in checked:
                what = f"the {name!r} query vector"
                checked[key] = convert.unit_array(vector, sizes[name], what)
            out.append((name, checked[key]))
        return out

    def copies_vectors(self, wait: float = 0.0) -> bool:
        """Whether searches use the numpy copy of the vectors now (waiting up to ``wait`` s
        for one being filled in the background): :mod:`rag.store.edge_copy`."""
        return self._kept.wait(wait)

    @property
    def vector_copy_max_points(self) -> int:
        """A copy is kept while the collection has at most this many points."""
        return self._kept.max_points

    @vector_copy_max_points.setter
    def vector_copy_max_points(self, value: int) -> None:
        self._kept.max_points = value

    @property
    def exact_scan_max_points(self) -> int:
        """Unfiltered dense searches scan the copy while it has at most this many points."""
        return self._kept.scan_max_points

    @exact_scan_max_points.setter
    def exact_scan_max_points(self, value: int) -> None:
        self._kept.scan_max_points = value

    def _dense(self, name: str, vector: QueryVector) -> np.ndarray:
        size = self._require_layout().dense[name]
        return convert.dense_array(vector, size, f"the {name!r} query vector")

    # --- which sparse vectors every point has -------------------------------------------------

    def _every_point_has(self, name: str) -> bool:
        """Whether every point of the collection has vector ``name`` (counted once, then kept in
        step with the writes: 1.6 ms at 100k points)."""
        known = self._complete.get(name)
        if known is not None:
            return known
        with self._lock:  # no write meanwhile
            known = self._complete.get(name)
            if known is None:
                lacking = qe.Filter(must_not=[qe.HasVectorCondition(name)])
                request = qe.CountRequest(exact=True, filter=lacking)
                count = self._call(self._require_shard().count, request)
                known = self._complete[name] = count == 0
            return known

    def _forget_incomplete(self) -> None:
        """After a delete, a vector some point lacked may now be on every point: count again."""
        self._complete = {name: True for name, known in self._complete.items() if known}

    def stored_quantization(self) -> str | None:
        """The quantization of the collection's dense vectors as stored (``none``, ``int8``, or
        another Qdrant kind such as ``binary``); None before the collection exists."""
        config = self._stored_config()
        return None if config is None else _quantization_of(config)

    # --- internals ---------------------------------------------------------------------------

    def _search_params(self, exact: bool = False) -> qe.SearchParams | None:
        """Search params for the collection as stored: exact scans the original vectors; a
        quantized search rescores ``oversampling`` x limit candidates with them."""
        quantized, ef = self._quantized, self.storage.hnsw_ef
        if exact:
            ignore = qe.QuantizationSearchParams(ignore=True) if quantized else None
            return qe.SearchParams(exact=True, quantization=ignore)
        if not quantized and ef is None:
            return None
        rescore = qe.QuantizationSearchParams(rescore=True, oversampling=self.storage.oversampling)
        return qe.SearchParams(hnsw_ef=ef, quantization=rescore if quantized else None)

    def _note_kept_storage(self) -> None:
        """Warn when the settings ask for another quantization than the collection has."""
        stored = self.stored_quantization()
        if stored is not None and stored != self.storage.quantization:
            log.warning(
                "collection %r keeps its %s quantization: MMRAG_STORE__QUANTIZATION=%s applies to "
                "collections created from now on (re-create it to change; docs/store.md)",
                self.collection,
                stored,
                self.storage.quantization,
            )

    def _nearest(self, name: str, vector: QueryVector) -> Any | None:
        value = convert.query_value(name, vector, self._require_layout(), qe.SparseVector)
        return None if value is None else qe.Query.Nearest(value, using=name)

    def _add_vectors(self, added: CollectionLayout) -> None:
        """Create the vectors of ``added`` on the open shard (Edge adds named vectors in place)."""
        if added.is_empty():
            return
        shard = self._require_shard()
        try:
            for name, size in added.dense.items():
                shard.update(qe.UpdateOperation.create_dense_vector(name, size, qe.Distance.Cosine))
            for name in added.sparse:
                shard.update(qe.UpdateOperation.create_sparse_vector(name, qe.Modifier.Idf))
            shard.flush()
            self._kept.forget()
            self._complete = {}
        except Exception as exc:
            raise convert.cannot_add_vectors(self.collection, added, exc) from exc
        log.warning(convert.added_vectors_note(self.collection, added))

    def _write(self, operation: qe.UpdateOperation) -> None:
        """Apply ``operation`` (the caller may hold the lock, to keep the numpy copy in step)."""
        check_free_space(self.path.parent, self.min_free_bytes)
        with self._lock:
            self._call(self._require_shard().update, operation)

    def _stored_config(self) -> dict[str, Any] | None:
        config_path = self.path / CONFIG_FILE
        if not config_path.exists():
            return None
        return dict(json.loads(config_path.read_text(encoding="utf-8")))

    def _stored_layout(self) -> convert.StoredLayout | None:
        config = self._stored_config()
        if config is None:
            return None
        dense = {
            name: (int(v["size"]), str(v["distance"]))
            for name, v in (config.get("vectors") or {}).items()
        }
        sparse = {
            name: (v or {}).get("modifier")
            for name, v in (config.get("sparse_vectors") or {}).items()
        }
        return convert.StoredLayout(dense, sparse)

    def _read_layout(self) -> CollectionLayout | None:
        found = self._stored_layout()
        return None if found is None else found.layout()

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
        self._layout = self._read_layout()
        self._quantized = self.stored_quantization() not in (None, "none")
        self._complete = {}

    def _require_shard(self) -> qe.EdgeShard:
        shard = self._shard
        if shard is None:
            if self._closed:
                raise StoreError(f"the store of collection {self.collection!r} is closed")
            raise convert.missing_collection(self.collection)
        return shard

    def _require_layout(self) -> CollectionLayout:
        self._require_shard()
        assert self._layout is not None
        return self._layout

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except MmragError:
            raise
        except Exception as exc:
            raise StoreError(f"Qdrant Edge failed on {self.collection!r}: {exc}") from exc

    @contextlib.contextmanager
    def paused_writes(self) -> Iterator[None]:
        """Holds every write, flush and close until the block ends, after flushing the shard, so
        its files can be copied whole (backups); searches go on meanwhile."""
        with self._lock:
            self.flush()
            yield


class _Chosen:
    """Chosen points (canonical ids, and a filter) as Edge conditions: the id set is converted
    once, however many requests use it, and returned ids map back without formatting a UUID."""

    def __init__(self, ids: list[str], flt: Filter | None) -> None:
        self.ids = ids
        self._flt = flt
        self._has: Any = None
        self._by_int: dict[int, str] | None = None

    def condition(self, *more: Any) -> qe.Filter:
        """The points among the chosen ones matching the filter and ``more`` conditions."""
        if self._has is None:
            self._has = qe.HasIdCondition(set(self.ids))
        condition = edge_filter(self._flt, self._has, *more)
        assert condition is not None
        return condition

    def id_of(self, point_id: Any) -> str:
        """The canonical id of an id Edge returned for one of the chosen points."""
        if type(point_id) is not uuid.UUID:
            return convert.bare_id(point_id)
        return self._ints().get(point_id.int) or str(point_id)

    def scores(self, hits: Sequence[Any]) -> dict[str, float]:
        """``{id: score}`` of Edge's scored points for the chosen points (the hot loop)."""
        by_int = self._ints()
        try:
            return {by_int[hit.id.int]: hit.score for hit in hits}
        except (AttributeError, KeyError):  # not a UUID Edge knows as one of ours: slow path
            return {self.id_of(hit.id): float(hit.score) for hit in hits}

    def _ints(self) -> dict[int, str]:
        if self._by_int is None:
            self._by_int = {int(pid.replace("-", ""), 16): pid for pid in self.ids}
        return self._by_int


def _keyed(hits: Sequence[Any]) -> list[tuple[Hashable, float]]:
    """Edge's scored points as ``(key, score)``, best first, ties by id: the key is the UUID's
    integer (read once per point; its order is the canonical ids' order), else the canonical
    id."""
    keyed = convert.uuid_scores(hits)
    return convert.id_scores(hits) if keyed is None else keyed  # type: ignore[return-value]


def _point_ids(keys: list[Any]) -> Sequence[str]:
    """The point ids of :func:`_keyed`'s keys."""
    if all(type(key) is int for key in keys):
        return UuidIds(keys)
    return [key if type(key) is str else str(uuid.UUID(int=key)) for key in keys]


def _edge_config(layout: CollectionLayout, storage: VectorStorage) -> qe.EdgeConfig:
    memory = qe.Memory.Cold if storage.on_disk else None
    dense = {
        name: qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine, memory=memory)
        for name, size in layout.dense.items()
    }
    sparse = {name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf) for name in layout.sparse}
    return qe.EdgeConfig(
        vectors=dense,
        sparse_vectors=sparse or None,
        quantization_config=_quantization_config(storage),
        payload_memory=memory or qe.Memory.Cached,  # read into the page cache when it opens
    )


def _quantization_config(storage: VectorStorage) -> qe.ScalarQuantizationConfig | None:
    """Collection-wide, so dense vectors added later are quantized too."""
    if storage.quantization == "none":
        return None
    if storage.quantization == "int8":
        return qe.ScalarQuantizationConfig(
            type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned
        )
    raise InvalidInputError(f"unknown quantization {storage.quantization!r}: use 'none' or 'int8'")


def _quantization_of(config: dict[str, Any]) -> str:
    """``int8``, ``none`` or Qdrant's name of the quantization in a stored ``edge_config.json``
    (collection-wide, or on any dense vector)."""
    found = [config.get("quantization_config")]
    found += [v.get("quantization_config") for v in (config.get("vectors") or {}).values()]
    for quantization in filter(None, found):
        kind, params = next(iter(quantization.items()))
        return "int8" if kind == "scalar" and params.get("type") == "int8" else str(kind)
    return "none"

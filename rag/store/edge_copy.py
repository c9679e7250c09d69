"""The embedded store's numpy copy of a small collection's dense vectors, and its lifecycle.

Scoring chosen points through the engine costs mostly the bindings' per-hit conversion (a UUID
object per result), not arithmetic. While a collection has at most
``MMRAG_STORE__VECTOR_COPY_MAX_POINTS`` points, :class:`KeptCopy` keeps a :class:`VectorCopy`
(filled in the background from the first search on; the shard is locked to one process, so the
copy follows each write) and the store answers from it: the engine's lists scored for every
signal by a gather and a dot product (:meth:`VectorCopy.scored`), and, up to
``MMRAG_STORE__EXACT_SCAN_MAX_POINTS`` with no filter, the lists themselves from a scan of every
row (:meth:`VectorCopy.scan`: HNSW wins above; ``python -m bench.retrieval --crossover``).
Scores are the engine's: cosine of unit float32 vectors; arithmetic in numpy's own loop
(:func:`_row_dots`).
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from rag.store.base import CollectionLayout, StoredPoint
from rag.store.candidates import Candidates

log = logging.getLogger(__name__)

Rows = Iterable[tuple[str, Mapping[str, object]]]
"""``(point id, vectors by name)`` pairs, as stored points or points to write carry them."""


class _Store(Protocol):
    """What :class:`KeptCopy` needs of the embedded store that owns it."""

    collection: str
    _lock: Any

    def _require_layout(self) -> CollectionLayout: ...

    def count(self) -> int: ...

    def scroll(
        self, flt: None, limit: int, offset: str | None, with_vectors: bool
    ) -> tuple[list[StoredPoint], str | None]: ...


class KeptCopy:
    """Whether ``store`` keeps a :class:`VectorCopy` now: started on a small enough collection
    (once per change), filled in the background, kept in step with the writes, dropped when
    the collection outgrows ``max_points``."""

    def __init__(self, store: _Store, max_points: int, scan_max_points: int) -> None:
        self.store = store
        self.max_points = max_points
        self.scan_max_points = scan_max_points
        self._copy: VectorCopy | None = None
        self._checked = False
        self._filler: threading.Thread | None = None

    def ready(self, names: Iterable[str]) -> VectorCopy | None:
        """The complete copy when it holds every one of ``names`` (dense), else ``None`` (the
        first call on a small enough collection starts filling it)."""
        if self.max_points <= 0:
            return None
        copy = self._copy
        if copy is None and not self._checked:
            self._start()
            return None
        if copy is None or not copy.wait_filled():
            return None
        return copy if all(name in copy.dims for name in names) else None

    def scans(self, copy: VectorCopy, filtered: bool) -> bool:
        """Whether a search scans ``copy`` instead of asking the engine for lists: unfiltered,
        at most ``scan_max_points`` points. (With a sparse signal the engine's one call costs
        less than scans plus a sparse search: :meth:`ready` refuses it.)"""
        return not filtered and 0 < len(copy) <= self.scan_max_points

    def wait(self, timeout: float) -> bool:
        """Whether searches use a copy now (waiting up to ``timeout`` s for one being filled)."""
        self.ready(())
        copy = self._copy
        return copy is not None and copy.wait_filled(timeout)

    def written(self, points: Rows) -> None:
        """Call with the store's lock held, after an upsert."""
        if self._copy is not None:
            self._copy.write(points)
            if len(self._copy) > self.max_points:
                self._copy = None  # grown past its size: the engine scores from now on

    def removed(self, ids: Iterable[str]) -> None:
        """Call with the store's lock held, after a delete."""
        if self._copy is not None:
            self._copy.remove(ids)
        else:
            self._checked = False  # it may be small enough again

    def forget(self) -> None:
        """Drop the copy (a write it cannot follow); the next search may start another."""
        self._copy, self._checked = None, False

    def close(self) -> None:
        with self.store._lock:
            self._copy, self._checked = None, True
            filler, self._filler = self._filler, None
        if filler is not None:
            filler.join()  # it stops after its page: no thread is left inside the shard

    def _start(self) -> None:
        store = self.store
        with store._lock:
            if self._copy is not None or self._checked:
                return
            layout = store._require_layout()
            self._checked = True
            count = store.count()
            if not layout.dense or count > self.max_points:
                return
            self._copy = VectorCopy(layout.dense, layout.sparse, capacity=max(count, 1))
            name = f"mmrag-vector-copy-{store.collection}"
            self._filler = threading.Thread(
                target=self._fill, args=(self._copy,), name=name, daemon=True
            )
            self._filler.start()

    def _fill(self, copy: VectorCopy) -> None:
        """Read every point's vectors into ``copy`` (a background thread)."""
        offset: str | None = None
        try:
            while self._copy is copy:
                page, offset = self.store.scroll(None, 1024, offset, with_vectors=True)
                copy.backfill((p.id, p.vectors) for p in page)
                with self.store._lock:  # writes while it filled may have grown it past its size
                    if self._copy is copy and len(copy) > self.max_points:
                        self._copy = None
                        return
                if offset is None:
                    copy.mark_filled()
                    return
        except Exception as exc:  # closed or failed meanwhile: searches keep using the engine
            log.debug("the vector copy of %r was not filled: %s", self.store.collection, exc)
            with self.store._lock:
                if self._copy is copy:
                    self._copy = None


class VectorCopy:
    """The dense vectors of points by id (names and sizes ``dims``), for exact lookups.

    Example::

        copy = VectorCopy({"image": 512, "text": 512})
        copy.write([(pid, {"image": v})])
        copy.scores_of({"image": query}, [pid, other])  # {"image": {pid: 0.93}}: other unknown
    """

    def __init__(
        self, dims: Mapping[str, int], sparse: Sequence[str] = (), capacity: int = 1024
    ) -> None:
        self.dims = dict(dims)
        self.sparse = tuple(sparse)
        """Sparse vector names whose presence (not values) is kept."""
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}
        self._rows_by_int: dict[int, int] = {}
        """The same rows by the UUID's integer, for the ids the engine returns (``uuid.UUID``)."""
        self._ids: list[str] = []
        """Row: the id of the point in it (stale for a free row: its presence flags are off)."""
        self._free: list[int] = []
        self._size = 0
        self._matrix = {name: np.zeros((capacity, dim), np.float32) for name, dim in dims.items()}
        self._present = {name: np.zeros(capacity, bool) for name in (*dims, *self.sparse)}
        self._shared = False
        """Whether a :meth:`scan` outside the lock reads ``_ids`` and ``_present``: the next
        write copies them first (a scan takes no copy of its own: 10k ids cost 27 us to copy)."""
        self._filled = threading.Event()
        self._removed: set[str] | None = set()
        """Ids removed while the copy is being filled (a page read before would bring them back)."""

    def __len__(self) -> int:
        return len(self._rows)

    def write(self, points: Rows) -> None:
        """Insert or replace points: a replaced point keeps only the vectors given now."""
        with self._lock:
            self._put(points)

    def backfill(self, points: Rows) -> None:
        """Points read from the store while it may be written: those written or removed since
        are left as they are."""
        with self._lock:
            removed = self._removed or set()
            self._put((pid, v) for pid, v in points if pid not in self._rows and pid not in removed)

    def mark_filled(self) -> None:
        """Every point of the store is in the copy: lookups may use it."""
        with self._lock:
            self._removed = None
        self._filled.set()

    def wait_filled(self, timeout: float | None = None) -> bool:
        """Whether the copy is complete (waiting up to ``timeout`` seconds for it)."""
        return self._filled.wait(timeout) if timeout else self._filled.is_set()

    def remove(self, ids: Iterable[str]) -> None:
        """Forget these points (unknown ids are ignored)."""
        with self._lock:
            self._unshare()
            for point_id in ids:
                if self._removed is not None:
                    self._removed.add(point_id)
                row = self._rows.pop(point_id, None)
                if row is not None:
                    if (key := _uuid_int(point_id)) is not None:
                        self._rows_by_int.pop(key, None)
                    for present in self._present.values():
                        present[row] = False
                    self._free.append(row)

    def scores_of(
        self, queries: Mapping[str, np.ndarray], ids: Sequence[str]
    ) -> dict[str, dict[str, float]]:
        """Per named query, the cosine of each of ``ids`` that has that vector (the ids are
        looked up once)."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            known = [(pid, row) for pid in ids if (row := self._rows.get(pid)) is not None]
            rows = np.fromiter((row for _, row in known), np.int64, len(known))
            for name, vector in queries.items():
                query = _unit(np.asarray(vector, dtype=np.float32))
                has = self._present[name][rows]
                values = _row_dots(self._matrix[name][rows[has]], query)
                present = [pid for (pid, _), keep in zip(known, has.tolist(), strict=True) if keep]
                out[name] = dict(zip(present, values.tolist(), strict=True))
        return out

    def vectors(self, ids: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The ``names`` vectors (unit float32, as the engine stores a cosine vector) of those of
        ``ids`` the copy holds, by id: what a lookup of the engine's records would give, read by
        one gather per name instead of a Python float per component."""
        with self._lock:
            known = [(pid, row) for pid in ids if (row := self._rows.get(pid)) is not None]
            rows = np.fromiter((row for _, row in known), np.int64, len(known))
            out: dict[str, dict[str, Any]] = {pid: {} for pid, _ in known}
            for name in names:
                has = self._present[name][rows].tolist()
                matrix = self._matrix[name][rows]  # a gather: a copy, safe after the lock
                for i, ((pid, _), keep) in enumerate(zip(known, has, strict=True)):
                    if keep:
                        out[pid][name] = matrix[i]
        return out

    def scan(self, queries: Sequence[tuple[str, np.ndarray]], limit: int) -> Candidates:
        """Each ``(name, unit vector)`` query's ``limit`` nearest rows by an exact scan, scored
        for every query (rows tied at the cut: any of them, as in the engine)."""
        with self._lock:
            size = self._size
            self._shared = True  # the next write copies what this holds first
            ids = self._ids
            scores = [_row_dots(self._matrix[name][:size], query) for name, query in queries]
            present = [self._present[name][:size] for name, _ in queries]
        tops = [_top(s, p, limit) for s, p in zip(scores, present, strict=True)]
        rows = np.unique(np.concatenate(tops)) if tops else np.zeros(0, np.int64)
        table = (
            np.column_stack(
                [np.where(p[rows], s[rows], np.nan) for s, p in zip(scores, present, strict=True)]
            )
            if tops
            else np.zeros((0, 0))
        )
        ranked = [np.searchsorted(rows, top) for top in tops]
        names = [name for name, _ in queries]
        return Candidates([ids[row] for row in rows.tolist()], names, ranked, table)

    def scored(
        self, queries: Sequence[tuple[str, np.ndarray]], lists: Sequence[Iterable[uuid.UUID]]
    ) -> Candidates:
        """The engine's lists (per query, the ids its search found, best first, as the engine
        returns them) scored for every ``(name, unit vector)`` query from the copy. A point the
        copy no longer holds (deleted since the search) is left out."""
        with self._lock:
            by_int = self._rows_by_int
            found = []
            for ids in lists:
                got = [by_int.get(point_id.int) for point_id in ids]
                found.append(np.array([row for row in got if row is not None], np.int64))
            rows = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
            point_ids = [self._ids[row] for row in rows.tolist()]
            table = np.full((len(rows), len(queries)), np.nan)
            for column, (name, query) in enumerate(queries):
                present = self._present[name][rows]
                table[present, column] = _row_dots(self._matrix[name][rows[present]], query)
        ranked = [np.searchsorted(rows, listed) for listed in found]
        return Candidates(point_ids, [name for name, _ in queries], ranked, table)

    def having(self, name: str, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that have vector ``name`` (dense or sparse)."""
        with self._lock:
            present = self._present[name]
            return [pid for pid in ids if (row := self._rows.get(pid)) is not None and present[row]]

    def _put(self, points: Rows) -> None:
        self._unshare()
        for point_id, vectors in points:
            row = self._row_for(point_id)
            for name, matrix in self._matrix.items():
                value = vectors.get(name)
                if value is not None:
                    matrix[row] = _unit(np.asarray(value, dtype=np.float32))
                self._present[name][row] = value is not None
            for name in self.sparse:  # a sparse vector without terms is not stored
                self._present[name][row] = len(getattr(vectors.get(name), "indices", ())) > 0

    def _unshare(self) -> None:
        """Copy what a scan holds before changing it (call with the lock held)."""
        if self._shared:
            self._ids = list(self._ids)
            self._present = {name: present.copy() for name, present in self._present.items()}
            self._shared = False

    def _row_for(self, point_id: str) -> int:
        row = self._rows.get(point_id)
        if row is not None:
            return row
        if self._free:
            row = self._free.pop()
            self._ids[row] = point_id
        else:
            row = self._size
            self._size += 1
            self._grow(self._size)
            self._ids.append(point_id)
        self._rows[point_id] = row
        key = _uuid_int(point_id)
        if key is not None:
            self._rows_by_int[key] = row
        return row

    def _grow(self, needed: int) -> None:
        capacity = len(next(iter(self._present.values()))) if self._present else needed
        if needed <= capacity:
            return
        size = max(needed, capacity * 2)
        for name, matrix in self._matrix.items():
            grown = np.zeros((size, matrix.shape[1]), np.float32)
            grown[:capacity] = matrix
            self._matrix[name] = grown
        for name in self._present:
            present = np.zeros(size, bool)
            present[:capacity] = self._present[name]
            self._present[name] = present


def _row_dots(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Each row of ``matrix`` dotted with ``vector`` on this thread: numpy's ``vecdot`` loop,
    not a BLAS matrix-vector product, whose thread pool collapses under concurrent requests
    (4k x 512 with 16 threads on 2 cores: 7.5 ms a call against 0.13 ms; vecdot is also 1.5x
    faster than ``einsum`` at 1k rows)."""
    return np.vecdot(matrix, vector)


def _top(scores: np.ndarray, present: np.ndarray, limit: int) -> np.ndarray:
    """The ``limit`` present rows with the highest ``scores``, best first."""
    rows = None if present.all() else np.flatnonzero(present)
    if rows is not None:
        scores = scores[rows]
    cut = len(scores) - limit
    top = np.argpartition(scores, cut)[cut:] if cut > 0 else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    return top if rows is None else rows[top]


def _uuid_int(point_id: str) -> int | None:
    """The integer of a canonical UUID id (what ``uuid.UUID(point_id).int`` gives); ``None`` for
    an id that is no UUID (the engine returns none such)."""
    try:
        return int(point_id.replace("-", ""), 16)
    except ValueError:
        return None


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = math.sqrt(float(np.dot(vector, vector)))
    return vector / norm if norm > 0 else vector

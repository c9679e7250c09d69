"""A numpy copy of a small collection's dense vectors, to score chosen points without the engine.

Retrieval scores its hits (each signal's score of each hit) and weighted fusion its candidates by
exact scores of chosen points. Through the engine that is a restricted exact search per signal,
and most of its cost is the bindings' per-hit conversion (a UUID object per result), not the
arithmetic. While a collection has at most ``MMRAG_STORE__VECTOR_COPY_MAX_POINTS`` points the
embedded store keeps this copy (every write goes through that store: the shard is locked to one
process, so the copy follows each upsert and delete) and looks the points up here instead: a
gather and a dot product per signal.

Below ``MMRAG_STORE__EXACT_SCAN_MAX_POINTS`` the store also takes nearest-neighbour lists from a
scan of every row (:meth:`VectorCopy.scan`): the engine builds no HNSW graph that small and
scans too, but each call costs more than the arithmetic. The scan holds every row's score for
every signal of the search, so the hits' signal scores need no second lookup. Above it HNSW
wins (a scan reads every vector: memory-bound; ``python -m bench.retrieval --crossover``
measures where), and :meth:`VectorCopy.scan_of` gives the points the engine's searches found,
scored for every signal, in the same form.

Arithmetic uses numpy's own loop rather than BLAS, whose thread pool spins against concurrent
requests (:func:`_row_dots`). Scores are the engine's: cosine of unit vectors (rows and queries
are normalised as Qdrant's cosine distance does), float32.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from rag.store import engine_fusion

Rows = Iterable[tuple[str, Mapping[str, object]]]
"""``(point id, vectors by name)`` pairs, as stored points or points to write carry them."""


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
        """Whether a :class:`Scan` holds ``_ids`` and ``_present``: the next write copies them
        first (a scan takes no copy of its own: 10k ids cost 27 us to copy)."""
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

    def scan(self, queries: Sequence[tuple[str, np.ndarray]], unit: bool = False) -> Scan:
        """Every row's cosine to each ``(name, vector)`` query, as the copy is now (``unit``:
        the vectors are unit float32 already, as :func:`~rag.store.convert.unit_array` gives)."""
        units = list(queries) if unit else _units(queries)
        with self._lock:
            size = self._size
            self._shared = True  # the next write copies what the scan holds first
            return Scan(
                [name for name, _ in units],
                self._ids,
                [_row_dots(self._matrix[name][:size], query) for name, query in units],
                [self._present[name][:size] for name, _ in units],
            )

    def scan_of(
        self,
        queries: Sequence[tuple[str, np.ndarray]],
        lists: Sequence[Iterable[uuid.UUID]],
        unit: bool = False,
    ) -> Scan:
        """:meth:`scan` of the points in ``lists`` only (per query, the ids its search found,
        as the engine returns them), whose :meth:`Scan.top` gives each query's own list. A
        point the copy no longer holds (deleted since the search) is left out."""
        units = list(queries) if unit else _units(queries)
        with self._lock:
            by_int = self._rows_by_int
            found = []
            for ids in lists:
                got = [by_int.get(point_id.int) for point_id in ids]
                found.append(np.array([row for row in got if row is not None], np.int64))
            rows = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
            point_ids = [self._ids[row] for row in rows.tolist()]
            scores = [_row_dots(self._matrix[name][rows], query) for name, query in units]
            present = [self._present[name][rows] for name, _ in units]
        listed = []
        for query_rows in found:  # the rows are sorted: each list's positions among them
            mask = np.zeros(len(rows), bool)
            mask[np.searchsorted(rows, query_rows)] = True
            listed.append(mask)
        return Scan([name for name, _ in units], point_ids, scores, present, listed)

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


class Scan:
    """Each row's cosine to each of a search's queries (in the order asked), taken at one
    moment: the nearest rows per query, and any row's score for every query by a lookup (no
    more arithmetic, and no later write changes them).

    Example::

        scan = copy.scan([("image", q), ("text", q)])
        rows, scores = scan.top(0, 50)  # the 50 rows whose images are nearest q, best first
        scan.ids(rows[:2])  # their point ids
        scan.table(rows[:2])  # [[0.93, nan], ...]: the first has no text vector
        scan.best(rows, scores, 10)  # [(id, 0.93, row), ...]: ties by id
        scan.fused([50, 50], "rrf", 10)  # the 10 best of both lists by RRF, as the engine fuses
        copy.scan_of([("image", q), ("text", q)], [image_ids, text_ids])  # found points only
    """

    def __init__(
        self,
        names: list[str],
        ids: list[str],
        scores: list[np.ndarray],
        present: list[np.ndarray],
        listed: list[np.ndarray] | None = None,
    ):
        self.names = names
        """The vector name of each query, in the order asked."""
        self._ids = ids
        """Row: point id (rows past the scan's may follow: they are not read)."""
        self._scores = scores
        self._present = present
        self._listed = listed
        """Per query, the rows its search found (:meth:`VectorCopy.scan_of`); ``None``: all."""
        self._size = len(present[0]) if present else len(ids)

    def __len__(self) -> int:
        return self._size

    def top(self, query: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``limit`` rows nearest query number ``query`` and their scores, best first (rows
        tied at the cut: any of them, as in the engine), among the rows its search found when
        the scan is of search results."""
        scores, present = self._scores[query], self._present[query]
        if self._listed is not None:
            present = present & self._listed[query]
        rows = None if present.all() else np.flatnonzero(present)
        if rows is not None:
            scores = scores[rows]
        cut = len(scores) - limit
        top = np.argpartition(scores, cut)[cut:] if cut > 0 else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return (top if rows is None else rows[top]), scores[top]

    def candidates(self, limit: int) -> np.ndarray:
        """The rows among any query's ``limit`` nearest, ascending: every row of a scan of
        search results whose lists hold at most ``limit`` rows each."""
        if self._listed is not None and all(int(mask.sum()) <= limit for mask in self._listed):
            return np.arange(self._size)
        candidate = np.zeros(self._size, bool)
        for query in range(len(self.names)):
            candidate[self.top(query, limit)[0]] = True
        return np.flatnonzero(candidate)

    def ids(self, rows: np.ndarray) -> list[str]:
        """The point id of each row."""
        return [self._ids[row] for row in rows.tolist()]

    def table(self, rows: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """``(len(rows), len(columns))`` float64 scores of the rows for the query of each vector
        name in ``columns`` (default :attr:`names`): NaN where the point lacks the vector or the
        scan has no query for the name."""
        columns = self.names if columns is None else columns
        table = np.full((len(rows), len(columns)), np.nan)
        for column, name in enumerate(columns):
            if name in self.names:
                query = self.names.index(name)
                scores, present = self._scores[query], self._present[query]
                table[:, column] = np.where(present[rows], scores[rows], np.nan)
        return table

    def best(
        self, rows: np.ndarray, values: np.ndarray, limit: int
    ) -> list[tuple[str, float, int]]:
        """``(point id, value, row)`` of the ``limit`` rows with the highest ``values``, best
        first, ties by point id (``values`` must hold no NaN)."""
        if len(rows) > limit:  # those at or above the limit-th value: ties are ordered by id
            cut = np.partition(values, len(values) - limit)[len(values) - limit]
            rows, values = rows[values >= cut], values[values >= cut]
        ranked = zip(self.ids(rows), values.tolist(), rows.tolist(), strict=True)
        return sorted(ranked, key=lambda item: (-item[1], item[0]))[:limit]

    def fused(
        self,
        limits: Sequence[int],
        fusion: str,
        limit: int,
        rrf_k: int = 60,
        weights: Sequence[float] | None = None,
    ) -> list[tuple[str, float, int]]:
        """:meth:`best` ``limit`` rows by the engine's fusion (``"rrf"``, with ``rrf_k`` and a
        weight per query, or ``"dbsf"``) of each query's ``limits[i]`` nearest rows, with
        :mod:`~rag.store.engine_fusion`'s formulas."""
        if fusion not in ("rrf", "dbsf"):
            raise ValueError(f"unknown fusion {fusion!r}: use 'rrf' or 'dbsf'")
        tops = [self.top(query, count) for query, count in enumerate(limits)]
        if fusion == "dbsf":
            parts = [engine_fusion.dbsf_scaled(scores) for _, scores in tops]
        else:
            given = weights or [1.0] * len(tops)
            parts = [
                engine_fusion.rrf_terms(len(rows), rrf_k, weight)
                for (rows, _), weight in zip(tops, given, strict=True)
            ]
        rows, values = engine_fusion.summed([rows for rows, _ in tops], parts, len(self))
        return self.best(rows, values, limit)


def _row_dots(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Each row of ``matrix`` dotted with ``vector`` on this thread: numpy's ``vecdot`` loop,
    not a BLAS matrix-vector product, whose thread pool collapses under concurrent requests
    (4k x 512 with 16 threads on 2 cores: 7.5 ms a call against 0.13 ms; vecdot is also 1.5x
    faster than ``einsum`` at 1k rows)."""
    return np.vecdot(matrix, vector)


def _units(queries: Sequence[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """The queries as unit float32 vectors (a vector asked for several names: once)."""
    normalised: dict[int, np.ndarray] = {}
    units = []
    for name, vector in queries:
        if id(vector) not in normalised:
            normalised[id(vector)] = _unit(np.asarray(vector, dtype=np.float32))
        units.append((name, normalised[id(vector)]))
    return units


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

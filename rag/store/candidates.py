"""The seam type between store and retriever: a search's candidates and their scores.

Example::

    found = store.candidates({"image": q, "lexical": terms}, limit=50)
    found.ids                  # every point some signal's list holds, in row order
    found.ranked("image")      # (rows, scores): the image list, best first (rank = position + 1)
    found.table(rows)          # (len(rows), len(found.names)) exact scores, NaN: lacks the vector
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence

import numpy as np

Lookup = Callable[[Sequence[str], Sequence[str]], Mapping[str, Mapping[str, float]]]
"""``(point ids, vector names) -> {name: {id: exact score}}``; a point missing from a name's
scores lacks that vector."""


class Candidates:
    """The points each queried signal's search found, each list ranked best first, and an
    ``ids x names`` table of exact scores: cosine for a dense vector, the engine's BM25 for a
    sparse one (0 for a point with terms but none of the query's), NaN where the point lacks
    the vector.

    An engine may leave some table cells to ``lookup`` (one call for every cell a
    :meth:`table` needs): a fused search reads its few best rows only.
    """

    __slots__ = ("_ids", "_lookup", "_ranked", "_scores", "_unknown", "names")

    def __init__(
        self,
        ids: Sequence[str],
        names: Sequence[str],
        ranked: Sequence[np.ndarray],
        scores: np.ndarray,
        unknown: np.ndarray | None = None,
        lookup: Lookup | None = None,
    ) -> None:
        self._ids = ids
        self.names = tuple(names)
        """Column -> the signal (vector name) queried."""
        self._ranked = list(ranked)
        self._scores = scores
        self._unknown = unknown if unknown is not None and unknown.any() else None
        self._lookup = lookup

    @classmethod
    def from_lists(
        cls,
        lists: Mapping[str, Sequence[tuple[Hashable, float]]],
        complete: Mapping[str, bool],
        lookup: Lookup | None,
        point_ids: Callable[[list], Sequence[str]] = list,
    ) -> Candidates:
        """Candidates of ``(id, score)`` lists, best first. A point missing from a list whose
        ``complete`` is true lacks that vector (a dense list shorter than its limit); its other
        cells are left to ``lookup``. ``point_ids`` turns the lists' keys, in row order, into
        the point ids (default: they are the ids)."""
        names = list(lists)
        keys = list(dict.fromkeys(key for found in lists.values() for key, _ in found))
        rows = {key: row for row, key in enumerate(keys)}
        scores = np.full((len(keys), len(names)), np.nan)
        unknown = np.zeros((len(keys), len(names)), bool)
        ranked = []
        for column, name in enumerate(names):
            found = lists[name]
            at = np.fromiter(map(rows.__getitem__, [key for key, _ in found]), np.int64, len(found))
            if not complete.get(name, False):
                unknown[:, column] = True
                unknown[at, column] = False
            scores[at, column] = [score for _, score in found]
            ranked.append(at)
        return cls(point_ids(keys), names, ranked, scores, unknown, lookup)

    @property
    def ids(self) -> Sequence[str]:
        """Row -> point id."""
        return self._ids

    def __len__(self) -> int:
        return len(self.ids)

    def fused(
        self, mode: str, weights: Mapping[str, float], limit: int, rrf_k: int
    ) -> list[tuple[int, float]] | None:
        """An engine's own answer to this fusion, ``(row, fused score)`` best first, where it
        has one cheaper than reading every list; ``None``: fuse the lists
        (:func:`rag.retrieval.fusion.fuse`)."""
        return None

    def ranked(self, name: str | int) -> tuple[np.ndarray, np.ndarray]:
        """Signal ``name``'s own list (or column number ``name``'s): its rows best first, and
        their scores."""
        column = name if isinstance(name, int) else self.names.index(name)
        rows = self._ranked[column]
        return rows, self._scores[rows, column]

    def table(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The exact scores of ``rows`` (default: every row), ``(len(rows), len(names))``
        float64, NaN where the point lacks the vector."""
        rows = np.arange(len(self.ids)) if rows is None else np.asarray(rows, np.int64)
        if self._unknown is not None:
            self._fill(rows)
        return self._scores[rows]

    def filled(self) -> Candidates:
        """These candidates with every cell scored and no tie to the engine left: a plain value
        that can be kept or sent to another process."""
        self.table()
        return Candidates(self.ids, self.names, self._ranked, self._scores)

    def column(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """:meth:`table`'s column of ``name``; all NaN when ``name`` was not queried."""
        if name not in self.names:
            return np.full(len(self.ids) if rows is None else len(rows), np.nan)
        return self.table(rows)[:, self.names.index(name)]

    def _fill(self, rows: np.ndarray) -> None:
        """Ask ``lookup`` once for the unknown cells of ``rows``."""
        assert self._unknown is not None
        missing = self._unknown[rows]
        if not missing.any():
            return
        asked_rows = rows[missing.any(axis=1)]
        columns = np.flatnonzero(missing.any(axis=0))
        names = [self.names[c] for c in columns.tolist()]
        ids = [self.ids[r] for r in asked_rows.tolist()]
        found = self._lookup(ids, names) if self._lookup is not None else {}
        for column, name in zip(columns.tolist(), names, strict=True):
            scores = found.get(name, {})
            for row, pid in zip(asked_rows.tolist(), ids, strict=True):
                if self._unknown[row, column]:
                    self._scores[row, column] = scores.get(pid, np.nan)
        self._unknown[asked_rows[:, None], columns[None, :]] = False


class UuidIds(Sequence[str]):
    """Point ids kept as the integers of their UUIDs and written out (canonical form) only
    when read: a search reads a few of the hundreds of ids its lists hold."""

    __slots__ = ("_ints", "_text")

    def __init__(self, ints: list[int]) -> None:
        self._ints = ints
        self._text: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._ints)

    def __getitem__(self, row):  # type: ignore[no-untyped-def, override]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self._ints)))]
        text = self._text.get(row)
        if text is None:
            h = f"{self._ints[row]:032x}"
            text = self._text[row] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return text

    def __iter__(self) -> Iterator[str]:
        return (self[row] for row in range(len(self._ints)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, UuidIds)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"UuidIds({list(self)!r})"


EngineFusion = Callable[[str, Mapping[str, float], int, int], "list[tuple[Hashable, float]] | None"]
"""``(mode, weights, limit, rrf k) -> [(key, fused score)]`` best first, or ``None`` where the
engine does not fuse that way."""


TIE_MARGIN = 8
"""Fused points asked of an engine past the limit, so that points tied at the cut are chosen by
id (as :func:`rag.retrieval.fusion.fuse` chooses them), not by the engine's order."""


class DeferredCandidates(Candidates):
    """Candidates an engine reads only when they are used: every list at the first use, or, for
    a fusion the engine does itself (:meth:`fused`), just its best rows. A signal's own list
    asked for after that reads the lists; the fused rows keep their numbers.

    ``read()`` gives the candidates of every list; ``fuse`` the engine's fused ``(key, score)``
    best first (``None``: not this mode); ``point_ids`` the ids of those keys; ``lookup`` the
    exact scores of the fused rows.
    """

    __slots__ = ("_fuse", "_point_ids", "_read", "_state")

    def __init__(
        self,
        names: Sequence[str],
        read: Callable[[], Candidates],
        fuse: EngineFusion,
        point_ids: Callable[[list], Sequence[str]],
        lookup: Lookup,
    ) -> None:
        super().__init__([], names, [], np.zeros((0, len(names))), None, lookup)
        self._read, self._fuse, self._point_ids = read, fuse, point_ids
        self._state = "new"
        """``new``: nothing read; ``fused``: the engine's fused rows only; ``read``: the lists."""

    @property
    def ids(self) -> Sequence[str]:
        if self._state == "new":
            self._read_lists()
        return self._ids

    def fused(
        self, mode: str, weights: Mapping[str, float], limit: int, rrf_k: int
    ) -> list[tuple[int, float]] | None:
        if self._state != "new":
            return None
        answer = self._fuse(mode, weights, limit + TIE_MARGIN, rrf_k)
        if answer is None:
            return None
        keys = [key for key, _ in answer]
        self._ids = self._point_ids(keys)
        self._scores = np.full((len(keys), len(self.names)), np.nan)
        self._unknown = np.ones((len(keys), len(self.names)), bool)
        self._state = "fused"
        order = sorted(range(len(answer)), key=lambda row: (-answer[row][1], keys[row]))
        return [(row, float(answer[row][1])) for row in order[:limit]]  # ties by id, as fuse

    def ranked(self, name: str | int) -> tuple[np.ndarray, np.ndarray]:
        if self._state != "read":
            self._read_lists()
        return super().ranked(name)

    def table(self, rows: np.ndarray | None = None) -> np.ndarray:
        if self._state == "new" or (rows is None and self._state == "fused"):
            self._read_lists()
        return super().table(rows)

    def _read_lists(self) -> None:
        read = self._read()
        if self._state == "new":
            self._ids, self._ranked, self._scores = read.ids, read._ranked, read._scores
            self._unknown, self._lookup = read._unknown, read._lookup
            self._state = "read"
            return
        # fused rows first, with the cells already scored; then the lists' other points
        fused_ids = list(self._ids)
        listed = {pid: row for row, pid in enumerate(read.ids)}
        fused_set = set(fused_ids)
        others = [pid for pid in read.ids if pid not in fused_set]
        order = fused_ids + others
        new_row = {pid: row for row, pid in enumerate(order)}
        scores = np.full((len(order), len(self.names)), np.nan)
        unknown = np.ones((len(order), len(self.names)), bool)
        from_read = [(new_row[pid], row) for pid, row in listed.items()]
        if from_read:
            to, at = (np.array(rows, np.int64) for rows in zip(*from_read, strict=True))
            scores[to] = read._scores[at]
            unknown[to] = False if read._unknown is None else read._unknown[at]
        head = len(fused_ids)
        known = ~self._unknown if self._unknown is not None else np.ones_like(unknown[:head])
        scores[:head][known] = self._scores[known]
        unknown[:head] &= ~known
        remap = np.fromiter((new_row[pid] for pid in read.ids), np.int64, len(read.ids))
        self._ranked = [remap[rows] for rows in read._ranked]
        self._ids, self._scores = order, scores
        self._unknown = unknown if unknown.any() else None
        self._lookup = read._lookup or self._lookup
        self._state = "read"

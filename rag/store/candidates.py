"""The seam type between store and retriever: a search's candidates and their scores.

Example::

    found = store.candidates({"image": q, "lexical": terms}, limit=50)
    found.ids                  # every point some signal's list holds, in row order
    found.ranked("image")      # (rows, scores): the image list, best first (rank = position + 1)
    found.table(rows)          # (len(rows), len(found.names)) exact scores, NaN: lacks the vector
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

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

    __slots__ = ("_lookup", "_ranked", "_scores", "_unknown", "ids", "names")

    def __init__(
        self,
        ids: list[str],
        names: Sequence[str],
        ranked: Sequence[np.ndarray],
        scores: np.ndarray,
        unknown: np.ndarray | None = None,
        lookup: Lookup | None = None,
    ) -> None:
        self.ids = ids
        """Row -> point id."""
        self.names = tuple(names)
        """Column -> the signal (vector name) queried."""
        self._ranked = list(ranked)
        self._scores = scores
        self._unknown = unknown if unknown is not None and unknown.any() else None
        self._lookup = lookup

    @classmethod
    def from_lists(
        cls,
        lists: Mapping[str, Sequence[tuple[str, float]]],
        complete: Mapping[str, bool],
        lookup: Lookup | None,
    ) -> Candidates:
        """Candidates of ``(id, score)`` lists, best first. A point missing from a list whose
        ``complete`` is true lacks that vector (a dense list shorter than its limit); its other
        cells are left to ``lookup``."""
        names = list(lists)
        rows: dict[str, int] = {}
        for found in lists.values():
            for pid, _ in found:
                rows.setdefault(pid, len(rows))
        scores = np.full((len(rows), len(names)), np.nan)
        unknown = np.zeros((len(rows), len(names)), bool)
        ranked = []
        for column, name in enumerate(names):
            found = lists[name]
            at = np.fromiter((rows[pid] for pid, _ in found), np.int64, len(found))
            if not complete.get(name, False):
                unknown[:, column] = True
                unknown[at, column] = False
            scores[at, column] = [score for _, score in found]
            ranked.append(at)
        return cls(list(rows), names, ranked, scores, unknown, lookup)

    def __len__(self) -> int:
        return len(self.ids)

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

"""Points a search ranks even when its own lists would not reach them: the items an earlier
answer of the conversation cited (:attr:`rag.retrieval.types.Query.candidates`).

They are searched with the same query vectors, restricted to their ids and to the query's filter
(a tenant's store adds its own: ids of another tenant find nothing), and each signal's list takes
them at the place of their exact score. Fusion then ranks them as if the search had found them.

Example::

    found = store.candidates(queries, 50, flt)
    extra = store.candidates(queries, len(ids), restricted(flt, ids))
    merged = merged_candidates(found, extra)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rag.store.base import Filter, HasId
from rag.store.candidates import Candidates

MAX_EXTRA = 32
"""Extra candidates one query may name, at most (the citations of one answer)."""


def restricted(flt: Filter | None, ids: Sequence[str]) -> Filter:
    """``flt`` and "the point is one of ``ids``"."""
    condition = HasId(tuple(ids))
    if flt is None:
        return Filter(must=(condition,))
    return replace(flt, must=(*flt.must, condition))


def merged_candidates(found: Candidates, extra: Candidates) -> Candidates:
    """``found`` with ``extra``'s points added: every signal's list holds its own points and
    ``extra``'s, best first by exact score (``found``'s first on a tie). Both come from the
    same query vectors, so their scores compare."""
    if not len(extra):
        return found
    found, extra = found.filled(), extra.filled()
    rows = {pid: row for row, pid in enumerate(found.ids)}
    ids = list(found.ids)
    new_rows = []
    for extra_row, pid in enumerate(extra.ids):
        if pid not in rows:
            rows[pid] = len(ids)
            ids.append(pid)
            new_rows.append(extra_row)
    table = found.table()
    extra_table = extra.table()
    columns = [extra.names.index(n) if n in extra.names else None for n in found.names]
    added = np.full((len(new_rows), len(found.names)), np.nan)
    for column, source in enumerate(columns):
        if source is not None and new_rows:
            added[:, column] = extra_table[new_rows, source]
    scores = np.vstack([table, added]) if new_rows else table
    ranked = []
    for column, name in enumerate(found.names):
        own_rows, own_scores = found.ranked(column)
        listed = set(own_rows.tolist())
        more_rows: list[int] = []
        more_scores: list[float] = []
        if name in extra.names:
            their_rows, their_scores = extra.ranked(name)
            for row, score in zip(their_rows.tolist(), their_scores.tolist(), strict=True):
                merged_row = rows[extra.ids[row]]
                if merged_row not in listed:
                    more_rows.append(merged_row)
                    more_scores.append(score)
        all_rows = np.concatenate([own_rows, np.array(more_rows, np.int64)])
        all_scores = np.concatenate([own_scores, np.array(more_scores, np.float64)])
        ranked.append(all_rows[np.argsort(-all_scores, kind="stable")])
    return Candidates(ids, found.names, ranked, scores)

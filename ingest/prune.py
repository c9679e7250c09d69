"""``--prune``: delete the points of a source root whose items a run did not see."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from rag import payload as keys
from rag.identity import point_id
from rag.store.base import Filter, MatchValue, VectorStore

_PAGE = 512


def prune_source(
    store: VectorStore,
    source_root: str,
    seen_ids: set[str],
    kept_sources: set[str],
    kept_folders: Collection[str] = (),
) -> int:
    """Delete points of ``source_root`` whose item id is not in ``seen_ids`` and whose source is
    not in ``kept_sources`` (items that failed this run keep their old point) nor under one of
    ``kept_folders`` (folders the run could not read; ``""``: the root). Returns how many."""
    if "" in kept_folders:
        return 0
    prefixes = tuple(folder.rstrip("/") + "/" for folder in kept_folders)
    doomed = [
        point.id
        for point in _points_of(store, source_root)
        if point_id(store.collection, str(point.payload.get(keys.ITEM_KEY))) not in seen_ids
        and point.payload.get(keys.SOURCE) not in kept_sources
        and not (prefixes and str(point.payload.get(keys.SOURCE, "")).startswith(prefixes))
    ]
    for start in range(0, len(doomed), _PAGE):
        store.delete(doomed[start : start + _PAGE])
    return len(doomed)


def _points_of(store: VectorStore, source_root: str) -> Iterator:
    flt = Filter(must=(MatchValue(keys.SOURCE_ROOT, source_root),))
    offset: str | None = None
    while True:
        page, offset = store.scroll(flt, limit=_PAGE, offset=offset)
        yield from page
        if offset is None:
            return

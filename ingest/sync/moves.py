"""Renamed files move their points instead of being embedded again.

A sync keeps, per source, each item file's size, change stamp and SHA-256. A file that is gone
and a new file with the same bytes is a move: every point of the old item (chunks, or a
document's pages, figures and passages) is copied under the new item's ids with its vectors,
then the old points are deleted. The ingest that follows finds the moved points unchanged;
whatever the move did not carry over exactly (a sidecar that did not move) it simply rewrites.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.folder import folder_source
from ingest.items import SourceItem, Unreadable
from rag import payload as keys
from rag.errors import InvalidInputError
from rag.identity import DOCUMENT_ID, chunk_key, document_id, point_id
from rag.safe_open import open_beneath
from rag.store.base import Filter, MatchValue, PointRecord, VectorStore

_PAGE = 256
_CHUNK = 1 << 20

Files = dict[str, tuple[str, int, str]]
"""``relative path -> (sha256, size, stamp)`` of a folder's item files."""


@dataclass(frozen=True)
class FileScan:
    """The item files of a folder now, the moves since the previous scan, and the folders
    that could not be listed (``""``: the root; their items keep their points)."""

    files: Files
    moves: list[tuple[str, str]]
    unreadable: list[str]


def scan_folder(root: Path, anchor: Path, previous: Files) -> FileScan:
    """Hash the item files under ``root`` (opened beneath ``anchor``); a file whose size and
    change stamp are as before keeps its old hash unread."""
    files: Files = {}
    unreadable: list[str] = []
    for item in _items(root, anchor, unreadable):
        try:
            before = previous.get(item.source)
            files[item.source] = _hashed(item.key_file or root / item.source, anchor, before)
        except (OSError, InvalidInputError):
            continue  # the ingest reports it
    gone = {rel: entry[0] for rel, entry in previous.items() if rel not in files}
    new = {rel: entry[0] for rel, entry in files.items() if rel not in previous}
    by_hash: dict[str, list[str]] = {}
    for rel, digest in gone.items():
        by_hash.setdefault(digest, []).append(rel)
    moves = []
    for rel, digest in sorted(new.items()):
        candidates = by_hash.get(digest)
        if candidates:
            moves.append((candidates.pop(0), rel))
    return FileScan(files, moves, unreadable)


def move_item(store: VectorStore, source_root: str, old: str, new: str) -> int:
    """Copy the points of item ``old`` (relative to ``source_root``) to item ``new`` with their
    vectors, then delete the old ones; returns how many points moved."""
    old_key, new_key = f"file:{Path(source_root) / old}", f"file:{Path(source_root) / new}"
    collection = store.collection
    old_points = list(_points(store, source_root, old))
    if not old_points:
        return 0
    new_doc = document_id(collection, new_key)
    records = []
    for point in old_points:
        payload = _renamed(point.payload, old, new, old_key, new_key, new_doc)
        own = str(payload.get(keys.ITEM_KEY, new_key))
        index = payload.get(keys.CHUNK_INDEX) or 0
        point_key = chunk_key(own, index) if isinstance(index, int) else own
        records.append(PointRecord(point_id(collection, point_key), point.vectors, payload))
    for start in range(0, len(records), _PAGE):
        store.upsert(records[start : start + _PAGE])
    fresh = {record.id for record in records}
    store.delete([p.id for p in old_points if p.id not in fresh])
    return len(records)


def _points(store: VectorStore, source_root: str, source: str) -> Iterator[Any]:
    flt = Filter(must=(MatchValue(keys.SOURCE_ROOT, source_root), MatchValue(keys.SOURCE, source)))
    offset: str | None = None
    while True:
        page, offset = store.scroll(flt, limit=_PAGE, offset=offset, with_vectors=True)
        yield from page
        if offset is None:
            return


def _renamed(
    value: Any, old: str, new: str, old_key: str, new_key: str, new_doc: str, path: str = ""
) -> Any:
    """``value`` with the old item's names replaced by the new one's: the source, keys and
    paths that start with the old item's, and the document's id."""
    if isinstance(value, dict):
        return {
            k: _renamed(v, old, new, old_key, new_key, new_doc, f"{path}.{k}" if path else k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_renamed(v, old, new, old_key, new_key, new_doc, path) for v in value]
    if not isinstance(value, str):
        return value
    if path == DOCUMENT_ID:
        return new_doc
    if path.split(".")[-1] == keys.SOURCE and value == old:
        return new
    if value.startswith(old_key):
        return new_key + value[len(old_key) :]
    old_file, new_file = old_key.removeprefix("file:"), new_key.removeprefix("file:")
    if value == old_file:
        return new_file
    return value


def _items(root: Path, anchor: Path, unreadable: list[str]) -> Iterator[SourceItem]:
    for entry in folder_source(root, anchor).items:
        if isinstance(entry, SourceItem):
            yield entry
        elif isinstance(entry, Unreadable):
            unreadable.append(entry.path)


def _hashed(path: Path, anchor: Path, before: tuple[str, int, str] | None) -> tuple[str, int, str]:
    fd = open_beneath(anchor, path, "file")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        stamp = f"{info.st_mtime_ns}:{info.st_ino}"
        if before is not None and before[1] == info.st_size and before[2] == stamp:
            return before
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest(), info.st_size, stamp

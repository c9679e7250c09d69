"""Item identity, in one place: source keys, point ids, and deleting an item with all its points.

A point id is a UUIDv5 of (collection, key). An item's key is its external id, its file path
(folder items) or its content hash; the points it owns derive their keys from it::

    item                 key                  point 0 of a chunked text: the item's own id
    chunk i (i > 0)      key#i
    document page p      key#p{p}             (p 1-based)
    figure f on page p   key#p{p}.f{f}
    passage s on page p  key#p{p}.s{s}

Every point stores its own key as ``item_key``, except chunks, which store their item's key.
Every point of a document also stores ``document.id`` (:func:`document_id`), so the whole
document can be found, replaced and deleted by that one value.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path

from rag import payload as keys
from rag.store.base import Filter, MatchValue, StoredPoint, VectorStore

_NAMESPACE = uuid.UUID("6f1d3c3e-8a43-5b8e-9a59-6d6d72616701")
_PAGE = 512
DOCUMENT_ID = f"{keys.DOCUMENT}.id"
"""The payload path of a point's document id (filters and deletes use it)."""


def content_hash(image_bytes: bytes | None, text: str | None) -> str:
    """SHA-256 (hex) of an item's image bytes and text, unambiguous about which is absent."""
    digest = hashlib.sha256()
    for part in (image_bytes, None if text is None else text.encode("utf-8")):
        if part is None:
            digest.update(b"\x00")
        else:
            digest.update(b"\x01" + len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def item_key(external_id: str | None, hash_hex: str) -> str:
    """The source key of an item: its external id when it has one, else its content hash."""
    return f"id:{external_id}" if external_id else f"sha256:{hash_hex}"


def source_key(external_id: str | None, key_file: Path | None, digest: str) -> str:
    """``id:<external id>``, else ``file:<path>`` (folder items), else ``sha256:<hash>``."""
    if not external_id and key_file is not None:
        return f"file:{key_file}"
    return item_key(external_id, digest)


def point_id(collection: str, key: str) -> str:
    """UUIDv5 of (collection, source key) as a string: the point's id."""
    return str(uuid.uuid5(_NAMESPACE, f"{collection}\x1f{key}"))


def chunk_key(key: str, index: int) -> str:
    """Key of chunk ``index`` of an item: the item's own key for chunk 0."""
    return key if index == 0 else f"{key}#{index}"


def chunk_point_id(collection: str, key: str, index: int) -> str:
    """Point id of chunk ``index`` of an item: the item's id for chunk 0, stable for the rest."""
    return point_id(collection, chunk_key(key, index))


def page_key(document_key: str, page: int) -> str:
    """Key of page ``page`` (1-based) of a document."""
    return f"{document_key}#p{page}"


def figure_key(document_key: str, page: int, figure: int) -> str:
    """Key of figure ``figure`` (0-based) on page ``page`` of a document."""
    return f"{page_key(document_key, page)}.f{figure}"


def passage_key(document_key: str, page: int, passage: int) -> str:
    """Key of passage ``passage`` (0-based) of page ``page`` of a document."""
    return f"{page_key(document_key, page)}.s{passage}"


def table_key(document_key: str, page: int, part: int) -> str:
    """Key of part ``part`` (0-based, a run of rows) of the tables of page (sheet) ``page``."""
    return f"{page_key(document_key, page)}.t{part}"


def document_id(collection: str, document_key: str) -> str:
    """The id of a document (a UUID, like point ids): ``document.id`` on each of its points."""
    return point_id(collection, f"document\x1f{document_key}")


def document_filter(doc_id: str) -> Filter:
    """Every point of the document ``doc_id``."""
    return Filter(must=(MatchValue(DOCUMENT_ID, doc_id),))


def document_points(store: VectorStore, doc_id: str) -> Iterator[StoredPoint]:
    """The points of a document, streamed (payloads only)."""
    offset: str | None = None
    while True:
        page, offset = store.scroll(document_filter(doc_id), limit=_PAGE, offset=offset)
        yield from page
        if offset is None:
            return


def delete_stale(
    store: VectorStore, doc_id: str, keep: set[str], keep_pages: Collection[int] = ()
) -> int:
    """Delete the points of document ``doc_id`` whose id is not in ``keep`` and whose page is
    not in ``keep_pages`` (pages that failed this time keep their old points); returns how many.

    Call it after the new version's points are written: a crash in between leaves extra points
    that the next run deletes, never a document with points missing.
    """
    doomed = [
        point.id
        for point in document_points(store, doc_id)
        if point.id not in keep and point.payload.get(keys.PAGE) not in keep_pages
    ]
    for start in range(0, len(doomed), _PAGE):
        store.delete(doomed[start : start + _PAGE])
    return len(doomed)


def delete_item(store: VectorStore, item_id: str, whole_document: bool = False) -> int:
    """Delete the point ``item_id`` with every chunk of its item; with ``whole_document``,
    every point of its document too. Returns how many points went (0: no such point)."""
    found = store.get([item_id])
    if not found:
        return 0
    payload = found[0].payload
    flt = _owner_filter(payload, whole_document)
    count = store.count(flt) if flt is not None else 0
    store.delete([item_id])
    if flt is not None:
        store.delete_by_filter(flt)
    return max(count, 1)


def _owner_filter(payload: dict, whole_document: bool) -> Filter | None:
    document = payload.get(keys.DOCUMENT)
    if whole_document and isinstance(document, dict) and document.get("id"):
        return document_filter(str(document["id"]))
    key = payload.get(keys.ITEM_KEY)
    return Filter(must=(MatchValue(keys.ITEM_KEY, str(key)),)) if key else None

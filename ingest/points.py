"""Points from embedded items: payloads, chunk ids, and whether a stored point is up to date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ingest.items import DecodedItem, ReadItem
from rag import payload as keys
from rag.embedding.base import SparseTerms
from rag.identity import chunk_point_id
from rag.store.base import IMAGE, PointRecord


def fingerprint(
    read: ReadItem,
    source_root: str,
    embedder_id: str,
    text_models: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Payload values that must match for a stored point to count as unchanged
    (``text_models``: :meth:`ingest.text_signals.TextEncoders.model_ids`)."""
    return {
        keys.CONTENT_HASH: read.content_hash,
        keys.METADATA: read.metadata,
        keys.EXTERNAL_ID: read.external_id,
        keys.SOURCE: read.item.source,
        keys.SOURCE_ROOT: source_root,
        keys.IMAGE_PATH: str(read.image_path) if read.image_path else None,
        keys.EMBEDDER: embedder_id,
        keys.CHUNK_COUNT: max(1, len(read.chunks)),
        **read.extra,
        **(text_models or {}),
    }


def is_unchanged(stored: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> bool:
    return stored is not None and all(stored.get(k) == v for k, v in expected.items())


def item_points(
    item: DecodedItem,
    image_vector: np.ndarray | None,
    chunk_vectors: list[Mapping[str, np.ndarray | SparseTerms]],
    base: Mapping[str, Any],
    collection: str,
) -> list[PointRecord]:
    """One point per chunk (one point for an item without text), each with the item's image
    vector and its chunk's vectors by name (``text``, and ``passage``/``lexical`` when on)."""
    read = item.read
    count = max(1, len(chunk_vectors))
    points = []
    for index in range(count):
        vectors: dict[str, np.ndarray | SparseTerms] = {}
        if image_vector is not None:
            vectors[IMAGE] = image_vector
        payload = {**base, keys.CHUNK_INDEX: index}
        if chunk_vectors:
            vectors.update(chunk_vectors[index])
        if count > 1 or (read.chunks and read.chunks[index] != (read.text or "")):
            payload[keys.CHUNK_TEXT] = read.chunks[index]  # a chunk of text, or text read by OCR
        points.append(PointRecord(chunk_point_id(collection, read.key, index), vectors, payload))
    return points


def base_payload(
    item: DecodedItem,
    source_root: str,
    embedder_id: str,
    now: str,
    text_models: Mapping[str, str | None] | None = None,
) -> dict:
    """The payload every point of ``item`` shares (``rag/payload.py`` describes each key)."""
    read, image = item.read, item.image
    shown = image or read.picture  # a passage shows its page render without embedding it
    return {
        keys.KIND: "image" if image else "text",
        **fingerprint(read, source_root, embedder_id, text_models),
        keys.TEXT: read.text or "",  # image-only items: "" (consumers expect a string)
        keys.ITEM_KEY: read.key,
        keys.MIME: shown.mime if shown else None,
        keys.WIDTH: shown.width if shown else None,
        keys.HEIGHT: shown.height if shown else None,
        keys.HAS_IMAGE: image is not None,
        keys.HAS_TEXT: bool(read.chunks),
        keys.INGESTED_AT: now,
    }


def stale_chunk_ids(collection: str, key: str, stored_count: object, new_count: int) -> list[str]:
    """Ids of chunks a previous, longer version of the item had and this one lacks."""
    if not isinstance(stored_count, int) or stored_count <= new_count:
        return []
    return [chunk_point_id(collection, key, i) for i in range(new_count, stored_count)]

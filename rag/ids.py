"""Deterministic identities: the same item always maps to the same point id."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d3c3e-8a43-5b8e-9a59-6d6d72616701")


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


def point_id(collection: str, key: str) -> str:
    """UUIDv5 of (collection, source key) as a string: the point's id."""
    return str(uuid.uuid5(_NAMESPACE, f"{collection}\x1f{key}"))

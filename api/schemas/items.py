"""Stored items (one point each) and collection statistics."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from rag import payload as keys


class ItemOut(BaseModel):
    """An item as clients see it: its text, where it came from, and the URL of its picture."""

    id: str
    text: str | None = None
    source: str | None = None
    external_id: str | None = None
    metadata: dict[str, Any] = {}
    has_image: bool = False
    image_url: str | None = None
    """Where ``GET`` serves the picture (``None`` for a text-only item)."""
    mime: str | None = None
    width: int | None = None
    height: int | None = None
    ingested_at: str | None = None
    chunk_index: int | None = None
    chunk_count: int | None = None

    @classmethod
    def from_payload(cls, point_id: str, payload: dict[str, Any], base_url: str = "") -> ItemOut:
        """The public view of a point's payload (server paths left out)."""
        has_image = bool(payload.get(keys.HAS_IMAGE))
        return cls(
            id=point_id,
            text=payload.get(keys.TEXT),
            source=payload.get(keys.SOURCE),
            external_id=payload.get(keys.EXTERNAL_ID),
            metadata=payload.get(keys.METADATA) or {},
            has_image=has_image,
            image_url=keys.image_url(point_id, base_url) if has_image else None,
            mime=payload.get(keys.MIME),
            width=payload.get(keys.WIDTH),
            height=payload.get(keys.HEIGHT),
            ingested_at=_text(payload.get(keys.INGESTED_AT)),
            chunk_index=payload.get(keys.CHUNK_INDEX),
            chunk_count=payload.get(keys.CHUNK_COUNT),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class DeletedOut(BaseModel):
    id: str
    deleted: bool = True


class StatsOut(BaseModel):
    """What the collection holds and which models serve it."""

    collection: str
    points: int
    with_image: int
    with_text: int
    embedder: str
    dim: int
    store: str
    """``edge`` (embedded) or the Qdrant URL kind (``server``, ``local``)."""

"""Stored items (one point each) and collection statistics."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.urls import document_file_url, item_image_url
from rag import payload as keys


class DocumentOut(BaseModel):
    """The document a page, figure or passage belongs to."""

    id: str
    title: str
    source: str
    pages: int
    file_url: str
    """The original file at this point's page (``#page=N`` for PDFs)."""


class ItemOut(BaseModel):
    """An item as clients see it: its text, where it came from, and the URL of its picture."""

    id: str
    text: str | None = None
    source: str | None = None
    external_id: str | None = None
    metadata: dict[str, Any] = {}
    has_image: bool = False
    image_url: str | None = None
    """Where ``GET`` serves the picture: the image, a page render or figure crop, a passage's
    page render (``None`` for a text-only item)."""
    mime: str | None = None
    width: int | None = None
    height: int | None = None
    ingested_at: str | None = None
    chunk_index: int | None = None
    chunk_count: int | None = None
    kind: str | None = None
    """``image``, ``text``, ``page``, ``figure`` or ``passage``."""
    document: DocumentOut | None = None
    page: int | None = None
    """1-based page (slide) of a page, figure or passage."""
    figure: int | None = None
    bbox: list[float] | None = None
    ocr_text: str | None = None
    """Text read by OCR from the item's picture (a passage of a page read by OCR: itself)."""
    ocr_confidence: float | None = None
    """The OCR engine's confidence in ``ocr_text``, in [0, 1]."""
    description: str | None = None
    """A machine-written description of the item's picture (``MMRAG_INGEST__DESCRIBE``), apart
    from ``text`` and ``ocr_text``; written by ``description_by``, not by a person."""
    description_by: str | None = None
    """The model that wrote ``description`` (machine-written)."""
    sheet: str | None = None
    """The sheet a ``table`` item's rows come from."""
    rows: list[int] | None = None
    """``[first, last]``: the 1-based rows of its sheet a ``table`` item holds."""
    table: str | None = None
    """``table N``: which table of its page a ``table`` item of a PDF, DOCX or PPTX holds."""

    @classmethod
    def from_payload(cls, point_id: str, payload: dict[str, Any], base_url: str = "") -> ItemOut:
        """The public view of a point's payload (server paths left out)."""
        has_image = bool(payload.get(keys.HAS_IMAGE))
        picture = has_image or bool(payload.get(keys.IMAGE_PATH))
        return cls(
            id=point_id,
            text=payload.get(keys.TEXT),
            source=payload.get(keys.SOURCE),
            external_id=payload.get(keys.EXTERNAL_ID),
            metadata=payload.get(keys.METADATA) or {},
            has_image=has_image,
            image_url=item_image_url(point_id, base_url) if picture else None,
            mime=payload.get(keys.MIME),
            width=payload.get(keys.WIDTH),
            height=payload.get(keys.HEIGHT),
            ingested_at=_text(payload.get(keys.INGESTED_AT)),
            chunk_index=payload.get(keys.CHUNK_INDEX),
            chunk_count=payload.get(keys.CHUNK_COUNT),
            kind=payload.get(keys.KIND),
            document=document_out(payload, base_url),
            page=payload.get(keys.PAGE),
            figure=payload.get(keys.FIGURE),
            bbox=payload.get(keys.BBOX),
            ocr_text=payload.get(keys.OCR_TEXT),
            ocr_confidence=payload.get(keys.OCR_CONFIDENCE),
            description=_text(payload.get(keys.DESCRIPTION)),
            description_by=_text(payload.get(keys.DESCRIPTION_BY)),
            sheet=payload.get(keys.SHEET),
            rows=payload.get(keys.ROWS),
            table=payload.get(keys.TABLE),
        )


def document_out(payload: dict[str, Any], base_url: str = "") -> DocumentOut | None:
    """The document of a point, with the link to its original file at the point's page."""
    document = payload.get(keys.DOCUMENT)
    if not isinstance(document, dict) or not document.get("id"):
        return None
    doc_id, page = str(document["id"]), payload.get(keys.PAGE)
    pdf = str(document.get("source") or "").lower().endswith(".pdf")
    return DocumentOut(
        id=doc_id,
        title=str(document.get("title") or ""),
        source=str(document.get("source") or ""),
        pages=int(document.get("pages") or 0),
        file_url=document_file_url(doc_id, page if pdf else None, base_url),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class DeletedOut(BaseModel):
    id: str
    deleted: bool = True
    points: int = 1
    """How many points went (every chunk, or with ``document=true`` the whole document)."""


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

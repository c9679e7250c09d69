"""Payload keys every point carries, shared by ingest, retrieval, answers, the API and adapters.

A point's payload::

    {
      "text": "full caption or page text (never truncated)",
      "chunk_text": "the part of text this point's text vector embeds (chunked items only)",
      "source": "relative path or upload name the item came from",
      "source_root": "the folder/manifest/upload batch it was ingested from (for --prune)",
      "external_id": "the caller's id, or null",
      "item_key": "external id or content hash: the identity the point id derives from",
      "content_hash": "sha256 of image bytes + text",
      "image_path": "absolute path of the picture mmrag serves (an image item's file, a page
                     render or figure crop; a passage shows its page render), or null",
      "mime": "image/png", "width": 640, "height": 480,
      "has_image": true, "has_text": true,   (the point has an image / a text vector)
      "metadata": {...},
      "ingested_at": "2026-11-26T23:00:00+00:00",
      "chunk_index": 0, "chunk_count": 1,
      "embedder": "ViT-B-32/openai",
      "passage_model": "sentence-transformers/all-MiniLM-L6-v2",
      "lexical_model": "bm25-v2/english/k1=1.2,b=0.75,avg_len=256"
    }
"""

from __future__ import annotations

TEXT = "text"
CHUNK_TEXT = "chunk_text"
SOURCE = "source"
SOURCE_ROOT = "source_root"
EXTERNAL_ID = "external_id"
ITEM_KEY = "item_key"
CONTENT_HASH = "content_hash"
IMAGE_PATH = "image_path"
MIME = "mime"
WIDTH = "width"
HEIGHT = "height"
HAS_IMAGE = "has_image"
HAS_TEXT = "has_text"
METADATA = "metadata"
INGESTED_AT = "ingested_at"
CHUNK_INDEX = "chunk_index"
CHUNK_COUNT = "chunk_count"
EMBEDDER = "embedder"
PASSAGE_MODEL = "passage_model"
"""Id of the passage model that embedded the point's text (null when the signal is off)."""
LEXICAL_MODEL = "lexical_model"
"""Id of the lexical (BM25) term scheme of the point's text (null when the signal is off)."""

# --- item kinds and documents (issue "Documents") ------------------------------------------------
KIND = "kind"
"""One of :data:`KINDS`; points written before kinds existed have none (read them as image/text)."""
KINDS: tuple[str, ...] = ("image", "text", "page", "figure", "passage", "table")
DOCUMENT = "document"
"""``{"id": str, "title": str, "source": str, "pages": int}`` on every point of a document."""
PAGE = "page"
"""1-based page (slide) number of a page, figure or passage point."""
FIGURE = "figure"
"""0-based index of a figure on its page."""
BBOX = "bbox"
"""``[x0, y0, x1, y1]`` in page points where known."""
FILE_PATH = "file_path"
"""Absolute path of a document's original file (served by ``/v1/documents/{id}/file``)."""
SHEET = "sheet"
"""Name of the sheet (table) a ``table`` point's rows come from."""
ROWS = "rows"
"""``[first, last]``: the 1-based rows of its sheet a ``table`` point holds (for citations)."""
TABLE = "table"
"""``table N``: which table of its page a ``table`` point of a PDF, DOCX or PPTX holds (its
``rows`` count from that table's header)."""
OCR_TEXT = "ocr_text"
"""Text read by OCR from the point's picture (a page, figure or image), or, on a passage of a
page read by OCR, the passage itself; absent where nothing was read."""
OCR_CONFIDENCE = "ocr_confidence"
"""The OCR engine's confidence in ``ocr_text``, in [0, 1] (lines weighted by length)."""
OCR_BOXES = "ocr_boxes"
"""The lines OCR read: ``[[x0, y0, x1, y1], ...]`` as fractions of the picture (top left 0)."""
LINES = "lines"
"""The lines a passage's text comes from, for highlights: ``[[x0, y0, x1, y1, start, end],
...]``, the box as fractions of the point's page render (or picture read by OCR; top left 0),
``start:end`` the characters of ``text`` the line holds (:mod:`rag.highlights`)."""
DESCRIPTION = "description"
"""A machine-written description of the point's picture (``MMRAG_INGEST__DESCRIBE``), kept
apart from ``text`` and ``ocr_text``; absent where none was written."""
DESCRIPTION_BY = "description_by"
"""The model that wrote ``description``."""
DESCRIPTION_MARK = "Description (machine-written): "
"""What a description is shown after wherever it is shown (its chunk, the LLM's context)."""
OCR_MODEL = "ocr_model"
"""Id of the OCR engine that read the point's picture (part of its fingerprint)."""
DUPLICATE_OF = "duplicate_of"
"""The point id of the earlier item whose picture this one nearly copies (image vectors within
``MMRAG_INGEST__DUPLICATE_THRESHOLD``), set at ingest; never a reason to delete."""
TENANT = "tenant"
"""The tenant a point belongs to (issue "Reliability"); absent in single-tenant setups."""

REQUIRED_KEYS: tuple[str, ...] = (
    TEXT,
    SOURCE,
    ITEM_KEY,
    CONTENT_HASH,
    HAS_IMAGE,
    HAS_TEXT,
    METADATA,
    INGESTED_AT,
)
"""Keys present on every point ingest writes (values may be null where the item has none)."""

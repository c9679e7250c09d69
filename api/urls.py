"""URLs the API serves, built in one place (``rag/`` knows no URL paths)."""

from __future__ import annotations


def item_image_url(point_id: str, base_url: str = "") -> str:
    """Where a point's picture is served: ``{base_url}/v1/items/{id}/image``."""
    return f"{base_url.rstrip('/')}/v1/items/{point_id}/image"


def document_file_url(document_id: str, page: int | None = None, base_url: str = "") -> str:
    """Where a document's original file is served, at ``page`` (``#page=N``) when given."""
    url = f"{base_url.rstrip('/')}/v1/documents/{document_id}/file"
    return f"{url}#page={page}" if page else url

"""``/v1/documents/{document_id}/file``: the original of an ingested document."""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import FileResponse, StreamingResponse

from api.deps import ServicesDep
from api.files import allowed_roots, served_file
from rag import payload as keys
from rag.errors import NotFoundError
from rag.identity import document_points

router = APIRouter(prefix="/v1", tags=["documents"])

_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".md": "text/markdown; charset=utf-8",
    ".markdown": "text/markdown; charset=utf-8",
    ".html": "text/plain; charset=utf-8",
    ".htm": "text/plain; charset=utf-8",
}
"""HTML is served as plain text: an ingested page must not run scripts on mmrag's origin."""


@router.get(
    "/documents/{document_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}, "description": "The original file."}},
)
def document_file(document_id: uuid.UUID, services: ServicesDep) -> StreamingResponse:
    """The file a document was ingested from (link to a page with ``#page=N``; hits and
    citations carry that link as ``document.file_url``). Only regular files under the allowed
    folders are served, resolved now, no symlinks followed."""
    point = next(document_points(services.store, str(document_id)), None)
    if point is None:
        raise NotFoundError(f"no document with id {document_id}")
    stored = point.payload.get(keys.FILE_PATH)
    if not stored:
        raise NotFoundError(f"the file of document {document_id} is gone; re-ingest it")
    document = point.payload.get(keys.DOCUMENT) or {}
    name = Path(str(document.get("source") or stored)).name
    media = _TYPES.get(Path(str(stored)).suffix.lower()) or mimetypes.guess_type(name)[0]
    disposition = f"inline; filename*=utf-8''{quote(name)}"
    headers = {"X-Content-Type-Options": "nosniff", "Content-Disposition": disposition}
    roots = allowed_roots(services.settings, point.payload)
    what = f"file of document {document_id}"
    return served_file(str(stored), roots, media, what, headers)

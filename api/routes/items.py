"""``/v1/items/{id}`` (read, picture, delete) and ``/v1/stats``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, StreamingResponse

from api.deps import PrincipalDep, ServicesDep
from api.files import allowed_roots, served_file
from api.jobs import QueueDep
from api.schemas.items import DeletedOut, ItemOut, StatsOut
from ingest.cleanup import discard_files, paths_named, pending_paths
from rag import identity
from rag import payload as keys
from rag.errors import NotFoundError
from rag.services import Services
from rag.store.base import Filter, MatchValue

router = APIRouter(prefix="/v1", tags=["items"])


def _payload(services: Services, item_id: uuid.UUID) -> dict[str, Any]:
    points = services.store.get([str(item_id)])
    if not points:
        raise NotFoundError(f"no item with id {item_id}")
    return points[0].payload


@router.get("/items/{item_id}")
def get_item(item_id: uuid.UUID, services: ServicesDep) -> ItemOut:
    """An item's text, source, metadata and image URL."""
    payload = _payload(services, item_id)
    return ItemOut.from_payload(str(item_id), payload, services.settings.api.public_url)


@router.get(
    "/items/{item_id}/image",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}, "description": "The item's picture."}},
)
def get_item_image(item_id: uuid.UUID, services: ServicesDep) -> StreamingResponse:
    """The item's picture: the image as ingested, a page render or figure crop (a passage shows
    its page); 404 for a text-only item."""
    payload = _payload(services, item_id)
    stored = payload.get(keys.IMAGE_PATH)
    if not stored:
        raise NotFoundError(f"item {item_id} has no image")
    roots = allowed_roots(services.settings, payload)
    return served_file(str(stored), roots, payload.get(keys.MIME), f"image file of item {item_id}")


@router.delete("/items/{item_id}")
def delete_item(
    item_id: uuid.UUID,
    services: ServicesDep,
    queue: QueueDep,
    principal: PrincipalDep,
    document: bool = Query(default=False),
) -> DeletedOut:
    """Remove an item from the collection, every chunk of its text included; with
    ``?document=true``, every page, figure and passage of its document. Its uploaded picture or
    document and its page renders are deleted too when no other item and no queued job of the
    tenant uses them; files from a folder are left alone."""
    payload = _payload(services, item_id)
    files = _files_of(services, payload, document)
    count = identity.delete_item(services.store, str(item_id), whole_document=document)
    if not count:
        raise NotFoundError(f"no item with id {item_id}")
    if files:
        keep = pending_paths(queue, tenant=principal.tenant)
        discard_files(files, services.store, services.settings.files_dir, keep)
    return DeletedOut(id=str(item_id), points=count)


def _files_of(services: Services, payload: dict[str, Any], whole_document: bool) -> list[str]:
    """The stored files the points about to go name (each of a document's, with
    ``whole_document``)."""
    files = paths_named(payload)
    document = payload.get(keys.DOCUMENT)
    if whole_document and isinstance(document, dict) and document.get("id"):
        for point in identity.document_points(services.store, str(document["id"])):
            files += paths_named(point.payload)
    return list(dict.fromkeys(files))


@router.get("/stats")
def stats(services: ServicesDep) -> StatsOut:
    """How many items the collection holds, and the embedder and store that serve it."""
    store, embedder = services.store, services.embedder
    return StatsOut(
        collection=store.collection,
        points=store.count(),
        with_image=store.count(Filter(must=(MatchValue(keys.HAS_IMAGE, True),))),
        with_text=store.count(Filter(must=(MatchValue(keys.HAS_TEXT, True),))),
        embedder=embedder.model_id,
        dim=embedder.dim,
        store=_engine(services.settings.store.url),
    )


def _engine(url: str) -> str:
    url = url.strip()
    if not url:
        return "edge"
    return "server" if url.startswith(("http://", "https://")) else "local"

"""``GET /v1/items`` (browse the collection page by page) and ``GET /v1/info`` (what serves it).

The web page's Library and Status tabs read these; any client may.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Query

from api.deps import ServicesDep
from api.schemas.items import ItemOut
from api.schemas.library import InfoOut, ItemPageOut, ModelsOut, SearchOptionsOut
from api.version import VERSION
from rag import payload as keys
from rag.retrieval.plan import FUSION_MODES, ITEM_VECTORS
from rag.services import Services
from rag.store.base import Filter, MatchValue

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["items"])

MAX_PAGE = 200


@router.get("/items")
def list_items(
    services: ServicesDep,
    limit: int = Query(default=24, ge=1, le=MAX_PAGE, description="Items per page."),
    cursor: str | None = Query(default=None, description="``next`` of the previous page."),
    kind: str | None = Query(
        default=None, description=f"Only points of this kind ({', '.join(keys.KINDS)})."
    ),
) -> ItemPageOut:
    """A page of the collection's points, ordered by id. Example: ``/v1/items?limit=24``, then
    ``/v1/items?limit=24&cursor=<next>`` until ``next`` is ``null``."""
    flt = Filter(must=(MatchValue(keys.KIND, kind),)) if kind else None
    points, after = services.store.scroll(flt, limit=limit, offset=cursor or None)
    base_url = services.settings.api.public_url
    return ItemPageOut(
        items=[ItemOut.from_payload(p.id, p.payload, base_url) for p in points],
        next=after,
        total=services.store.count(flt),
    )


@router.get("/info")
def info(services: ServicesDep) -> InfoOut:
    """The models in use, the store, search defaults and request caps."""
    settings = services.settings
    retrieval = settings.retrieval
    return InfoOut(
        version=VERSION,
        collection=services.store.collection,
        store=_engine(settings.store.url),
        models=ModelsOut(
            clip=services.embedder.model_id,
            dim=services.embedder.dim,
            reranker=_reranker(services),
            llm_backend=settings.llm.backend,
            llm_model=_llm_model(services),
        ),
        search=SearchOptionsOut(
            fusion_modes=list(FUSION_MODES),
            fusion=retrieval.fusion,
            weights=list(ITEM_VECTORS),
            top_k=retrieval.top_k,
            max_top_k=retrieval.max_top_k,
            rerank=services.reranker is not None,
        ),
        max_upload_bytes=settings.api.max_upload_bytes,
        max_question_chars=settings.api.max_question_chars,
    )


def _reranker(services: Services) -> str:
    reranker = services.reranker
    return reranker.model_id if reranker is not None else "none"


def _llm_model(services: Services) -> str | None:
    try:
        return services.chat_model.model_name
    except Exception as exc:
        log.warning("info: the LLM is not available: %s", exc)
        return None


def _engine(url: str) -> str:
    url = url.strip()
    if not url:
        return "edge"
    return "server" if url.startswith(("http://", "https://")) else "local"

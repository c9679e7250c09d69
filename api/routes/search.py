"""``POST /v1/search``: hits for words, a picture, or both."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep
from api.queries import check_question, query_filter, query_image, require_query
from api.schemas.items import ItemOut
from api.schemas.search import HitOut, ScoresOut, SearchIn, SearchOut
from rag.retrieval.types import Hit, Query

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search")
def search(body: SearchIn, services: ServicesDep) -> SearchOut:
    """Search the collection. Example: ``{"text": "a red square", "top_k": 5, "fusion": "rrf"}``.

    Each hit has its image/text/fused/rerank scores and the URL of its picture.
    """
    settings = services.settings
    text = check_question(body.text, settings)
    image = query_image(body.image, settings)
    require_query(text, image)
    query = Query(
        text=text,
        image=image,
        fusion=body.fusion,
        weights=body.weights,
        top_k=body.top_k,
        filter=query_filter(body.filter),
        rerank=body.rerank,
    )
    result = services.retriever.search(query)
    base_url = settings.api.public_url
    return SearchOut(
        hits=[hit_out(hit, base_url) for hit in result.hits],
        reranked=result.reranked,
        rerank_complete=result.rerank_complete,
        timings=result.timings,
    )


def hit_out(hit: Hit, base_url: str = "") -> HitOut:
    """The public view of a hit: the item and its per-stage scores."""
    item = ItemOut.from_payload(hit.id, hit.payload, base_url)
    return HitOut(**item.model_dump(), scores=ScoresOut(**hit.scores.as_dict()))

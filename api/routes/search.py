"""``POST /v1/search``: hits for words, a picture, or both."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from api.deps import ServicesDep
from api.metrics import observe_search
from api.queries import build_query, query_image
from api.schemas.search import HitOut, SearchIn, SearchOut
from rag.retrieval.types import SearchResult

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search")
def search(body: SearchIn, services: ServicesDep) -> SearchOut:
    """Search the collection. Example: ``{"text": "error E-1042", "top_k": 5, "fusion": "rrf",
    "signals": ["passage", "lexical"]}``.

    Each hit has its image/text/passage/lexical/fused/rerank scores and the URL of its picture.
    """
    settings = services.settings
    query = build_query(settings, body.text, query_image(body.image, settings), body)
    result = services.retriever.search(query)
    observe_search(result.timings)
    return search_out(result, settings.api.public_url, body.text)


def search_out(result: SearchResult, base_url: str = "", text: str | None = None) -> SearchOut:
    """The public view of a search (the MCP ``search`` tool answers the same); ``text`` (the
    query's words) picks each hit's highlighted lines."""
    return SearchOut(
        hits=[HitOut.of(hit, base_url, text) for hit in result.hits],
        reranked=result.reranked,
        rerank_complete=result.rerank_complete,
        timings=result.timings,
        fairness=None if result.fairness is None else asdict(result.fairness),
    )

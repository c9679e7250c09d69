"""``POST /v1/chat``: a grounded answer with citations, whole or as server-sent events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.answering import (
    answer,
    answer_events,
    generation_options,
    generation_out,
    make_ask,
    retrieval_out,
)
from api.deps import ServicesDep
from api.queries import query_image
from api.schemas.chat import ChatIn, ChatOut, CitationOut
from api.schemas.search import HitOut
from api.streaming import event_stream, sse
from rag.answer import Answer, AnswerEvent, FinalEvent, RetrievalEvent, TokenEvent

router = APIRouter(prefix="/v1", tags=["chat"])

SSE_DOC = """With ``"stream": true`` the answer comes as server-sent events: ``retrieval``
(``{"hits": [...], "query": {...}}``: the hits and what was searched), ``token``
(``{"text": "..."}``) pieces, then ``final`` (the whole ``ChatOut`` with the citations); a
failure midway ends the stream with ``error`` (``{"error": code, "message": ...}``)."""


@router.post(
    "/chat",
    response_model=ChatOut,
    responses={200: {"content": {"text/event-stream": {}}, "description": SSE_DOC}},
)
def chat(body: ChatIn, services: ServicesDep) -> ChatOut | StreamingResponse:
    """Ask about the collection. Example: ``{"question": "What is on the red mat?"}``.

    The answer cites context blocks as ``[n]``; ``citations`` says which items they are.
    """
    ask = make_ask(
        services,
        body.question,
        query_image(body.image, services.settings),
        [turn.message() for turn in body.history],
        generation_options(services, body.max_tokens, body.temperature),
        body,
    )
    base_url = services.settings.api.public_url
    if not body.stream:
        return chat_out(answer(services, ask), base_url)
    events = answer_events(services, ask)
    return event_stream(_sse_lines(events, base_url), lambda error: sse(error, "error"))


def chat_out(result: Answer, base_url: str = "") -> ChatOut:
    """The JSON answer: text, model, citations, hits and timings."""
    return ChatOut(
        answer=result.text,
        model=result.model,
        generation=generation_out(result),
        citations=[CitationOut.of(c, base_url) for c in result.citations],
        hits=[HitOut.of(hit, base_url) for hit in result.hits],
        timings=result.timings,
        retrieval=retrieval_out(result),
    )


def _sse_lines(events: Iterator[AnswerEvent], base_url: str) -> Iterator[str]:
    for event in events:
        yield sse(*_event(event, base_url))


def _event(event: AnswerEvent, base_url: str) -> tuple[dict[str, Any], str]:
    if isinstance(event, RetrievalEvent):
        hits = [HitOut.of(hit, base_url).model_dump() for hit in event.hits]
        return {"hits": hits, "query": event.query}, "retrieval"
    if isinstance(event, TokenEvent):
        return {"text": event.text}, "token"
    assert isinstance(event, FinalEvent)
    return chat_out(event.answer, base_url).model_dump(), "final"

"""Ollama-compatible ``/api/tags``, ``/api/chat``, ``/api/show``, ``/api/version``, ``/api/embed``.

Chat UIs and clients that speak Ollama (Open WebUI, the ``ollama`` Python client) use mmrag as
the model ``mmrag:latest`` at ``http://host:8000``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.answering import (
    Ask,
    answer,
    answer_events,
    generation_options,
    generation_out,
    make_ask,
    retrieval_out,
    token_counts,
)
from api.deps import ServicesDep
from api.images import check_pictures, decode_base64, decode_image
from api.queries import check_question
from api.schemas.chat import CitationOut
from api.schemas.embed import MAX_BATCH
from api.schemas.ollama import (
    MODEL_NAME,
    OllamaChatIn,
    OllamaChatOut,
    OllamaEmbedIn,
    OllamaEmbedOut,
    OllamaMessageIn,
    OllamaMessageOut,
    OllamaModelOut,
    OllamaShowIn,
    OllamaShowOut,
    OllamaTagsOut,
    OllamaVersionOut,
)
from api.sources import cited_ids, public_base_url, sources_block
from api.streaming import ndjson, ndjson_stream
from rag.answer import Answer, AnswerEvent, FinalEvent, TokenEvent
from rag.errors import InvalidInputError
from rag.llm.base import ChatMessage
from rag.services import Services

router = APIRouter(prefix="/api", tags=["ollama"])

STARTED = datetime.now(UTC).isoformat()
DIGEST = hashlib.sha256(MODEL_NAME.encode()).hexdigest()

STREAM_DOC = """Streamed (the default): NDJSON lines ``{"message": {"content": piece},
"done": false}``, then a last line with ``"done": true`` and ``citations``."""


@router.get("/version")
def version() -> OllamaVersionOut:
    """The Ollama API version mmrag speaks."""
    return OllamaVersionOut()


@router.get("/tags")
def tags() -> OllamaTagsOut:
    """The one model mmrag serves, ``mmrag:latest``."""
    model = OllamaModelOut(name=MODEL_NAME, model=MODEL_NAME, modified_at=STARTED, digest=DIGEST)
    return OllamaTagsOut(models=[model])


@router.post("/show")
def show(body: OllamaShowIn, services: ServicesDep) -> OllamaShowOut:
    """What the model is: a grounded answerer over the collection, taking images as queries."""
    info = {
        "general.architecture": "mmrag",
        "mmrag.embedder": services.settings.clip.model,
        "mmrag.llm_backend": services.settings.llm.backend,
    }
    return OllamaShowOut(model_info=info, modified_at=STARTED)


@router.post(
    "/chat",
    response_model=OllamaChatOut,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": STREAM_DOC}},
)
def chat(
    body: OllamaChatIn, services: ServicesDep, request: Request
) -> OllamaChatOut | StreamingResponse:
    """A grounded answer as Ollama's chat; ``images`` of the last user message are the image
    query, earlier user and assistant turns the history. Citations come in ``citations``; the
    message ends with a Markdown Sources block unless ``"sources": false``."""
    ask = _ask(services, body)
    started = time.perf_counter()
    base_url = public_base_url(services, request) if body.sources else None
    if not body.stream:
        result = answer(services, ask)
        return _final(body.model, result, ask, started, _sources(result, base_url), full=True)
    lines = _lines(answer_events(services, ask), body.model, ask, started, base_url)
    return ndjson_stream(lines, lambda error: ndjson({"error": error["message"]}))


def _ask(services: Services, body: OllamaChatIn) -> Ask:
    *earlier, last = body.messages
    if last.role != "user":
        raise InvalidInputError("the last message must be the user's question (role 'user')")
    image = _image(last, services)
    history = [
        ChatMessage(m.role, m.content, cited=cited_ids(m.content) if m.role == "assistant" else ())
        for m in earlier
        if m.role in ("user", "assistant")
    ]
    options = body.options
    max_tokens = options.num_predict if options else None
    temperature = options.temperature if options else None
    generation = generation_options(services, max_tokens, temperature)
    return make_ask(services, last.content, image, history, generation, body)


def _image(message: OllamaMessageIn, services: Services) -> Any:
    """The last image (the image query); every image's header is checked and counted against
    the request's pixel budget first, only the last is decoded."""
    if not message.images:
        return None
    named = [(f"messages[-1].images[{n}]", text) for n, text in enumerate(message.images)]
    sent = [(name, decode_base64(text, name)) for name, text in named]
    ingest = services.settings.ingest
    check_pictures(sent, ingest)
    return decode_image(sent[-1][1], ingest.max_image_pixels, sent[-1][0])


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _lines(
    events: Iterator[AnswerEvent], model: str, ask: Ask, started: float, base_url: str | None
) -> Iterator[str]:
    for event in events:
        if isinstance(event, TokenEvent):
            yield _piece(model, event.text)
        elif isinstance(event, FinalEvent):
            if sources := _sources(event.answer, base_url):
                yield _piece(model, sources)
            final = _final(model, event.answer, ask, started, sources, full=False)
            yield ndjson(final.model_dump())


def _piece(model: str, text: str) -> str:
    message = {"role": "assistant", "content": text}
    return ndjson({"model": model, "created_at": _now(), "message": message, "done": False})


def _sources(result: Answer, base_url: str | None) -> str:
    return sources_block(result, base_url) if base_url is not None else ""


def _final(
    model: str, result: Answer, ask: Ask, started: float, sources: str, full: bool
) -> OllamaChatOut:
    prompt, completion = token_counts(result, ask.question or "")
    return OllamaChatOut(
        model=model,
        created_at=_now(),
        message=OllamaMessageOut(content=result.text + sources if full else ""),
        total_duration=int((time.perf_counter() - started) * 1e9),
        prompt_eval_count=prompt,
        eval_count=completion,
        citations=[CitationOut.of(citation, ask.base_url) for citation in result.citations],
        generation=generation_out(result),
        retrieval=retrieval_out(result),
    )


@router.post("/embed")
def embed(body: OllamaEmbedIn, services: ServicesDep) -> OllamaEmbedOut:
    """Embed texts into the CLIP space, as Ollama's ``/api/embed`` does."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not 1 <= len(texts) <= MAX_BATCH:
        raise InvalidInputError(f"input must hold 1 to {MAX_BATCH} texts, got {len(texts)}")
    for n, text in enumerate(texts):
        check_question(text, services.settings, f"input[{n}]")
    vectors = services.embedder.embed_texts(texts)
    return OllamaEmbedOut(model=body.model, embeddings=vectors.tolist())

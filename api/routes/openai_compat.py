"""OpenAI-compatible ``/v1/models``, ``/v1/chat/completions`` and ``/v1/embeddings``.

OpenAI clients and chat UIs use mmrag as a model: ``base_url="http://host:8000/v1"``.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from PIL import Image

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
from api.images import Sent, check_pictures, decode_base64, decode_image
from api.queries import check_question
from api.schemas.chat import CitationOut
from api.schemas.embed import MAX_BATCH
from api.schemas.openai import (
    MODEL_ID,
    AssistantMessage,
    ChatCompletionIn,
    ChatCompletionOut,
    Choice,
    EmbeddingOut,
    EmbeddingsIn,
    EmbeddingsOut,
    MessageIn,
    ModelListOut,
    ModelOut,
    Usage,
    chunk,
)
from api.sources import cited_ids, public_base_url, sources_block
from api.streaming import event_stream, sse
from rag.answer import Answer, AnswerEvent, FinalEvent, TokenEvent
from rag.errors import InvalidInputError
from rag.llm.base import ChatMessage
from rag.services import Services

router = APIRouter(prefix="/v1", tags=["openai"])

STARTED = int(time.time())

STREAM_DOC = """With ``"stream": true``: ``chat.completion.chunk`` events, the last one with
``finish_reason`` and ``citations``, then ``data: [DONE]``."""


@router.get("/models")
def models() -> ModelListOut:
    """The one model mmrag serves, for clients that list models first."""
    return ModelListOut(data=[ModelOut(id=MODEL_ID, created=STARTED)])


@router.post(
    "/chat/completions",
    response_model=ChatCompletionOut,
    responses={200: {"content": {"text/event-stream": {}}, "description": STREAM_DOC}},
)
def chat_completions(
    body: ChatCompletionIn, services: ServicesDep, request: Request
) -> ChatCompletionOut | StreamingResponse:
    """A grounded answer as an OpenAI chat completion, citations in the extra ``citations`` field
    (and, unless ``"sources": false``, a Markdown Sources block at the end of the message).

    The last user message is the question; its ``image_url`` parts (data URLs) are the image
    query; earlier user and assistant turns are the history (system messages are not used).
    """
    ask = _ask(services, body)
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    sources_url = public_base_url(services, request) if body.sources else None
    if not body.stream:
        result = answer(services, ask)
        return _completion(completion_id, created, body.model, result, ask, sources_url)
    ids = (completion_id, created, body.model)
    lines = _chunks(answer_events(services, ask), ids, ask, sources_url)
    return event_stream(lines, lambda error: sse({"error": _openai_error(error)}))


def _ask(services: Services, body: ChatCompletionIn) -> Ask:
    *earlier, last = body.messages
    if last.role != "user":
        raise InvalidInputError("the last message must be the user's question (role 'user')")
    text, image = _content(last, services)
    max_tokens = body.max_completion_tokens or body.max_tokens
    options = generation_options(services, max_tokens, body.temperature)
    return make_ask(services, text, image, _history(earlier), options, body)


def _content(message: MessageIn, services: Services) -> tuple[str, Image.Image | None]:
    """The message's text and its last picture (the image query). Every picture's header is
    checked and counted against the request's pixel budget; only the last one is decoded."""
    if message.content is None or isinstance(message.content, str):
        return message.content or "", None
    texts, sent = [], []
    for n, part in enumerate(message.content):
        if part.type == "text":
            texts.append(part.text or "")
        elif part.type == "image_url" and part.image_url is not None:
            sent.append(_image(part.image_url.url, n))
        else:
            raise InvalidInputError(f"messages[-1].content[{n}]: unsupported part {part.type!r}")
    ingest = services.settings.ingest
    check_pictures(sent, ingest)
    image = decode_image(sent[-1][1], ingest.max_image_pixels, sent[-1][0]) if sent else None
    return "\n".join(texts), image


def _image(url: str, n: int) -> Sent:
    name = f"messages[-1].content[{n}].image_url"
    if not url.startswith("data:"):
        raise InvalidInputError(f"{name}: send the picture as a data: URL (URLs are not fetched)")
    return name, decode_base64(url, name)


def _history(messages: list[MessageIn]) -> list[ChatMessage]:
    turns = []
    for message in messages:
        if message.role in ("user", "assistant"):
            content = message.content
            if isinstance(content, list):
                content = "\n".join(part.text or "" for part in content if part.type == "text")
            content = content or ""
            cited = cited_ids(content) if message.role == "assistant" else ()
            turns.append(ChatMessage(message.role, content, cited=cited))
    return turns


def _usage(ask: Ask, result: Answer) -> Usage:
    prompt, completion = token_counts(result, ask.question or "")
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _citations(result: Answer, base_url: str) -> list[CitationOut]:
    return [CitationOut.of(citation, base_url) for citation in result.citations]


def _sources(result: Answer, sources_url: str | None) -> str:
    return sources_block(result, sources_url) if sources_url is not None else ""


def _completion(
    completion_id: str,
    created: int,
    model: str,
    result: Answer,
    ask: Ask,
    sources_url: str | None,
) -> ChatCompletionOut:
    content = result.text + _sources(result, sources_url)
    return ChatCompletionOut(
        id=completion_id,
        created=created,
        model=model,
        choices=[Choice(message=AssistantMessage(content=content))],
        usage=_usage(ask, result),
        citations=_citations(result, ask.base_url),
        generation=generation_out(result),
        retrieval=retrieval_out(result),
    )


def _chunks(
    events: Iterator[AnswerEvent], ids: tuple[str, int, str], ask: Ask, sources_url: str | None
) -> Iterator[str]:
    yield sse(chunk(*ids, {"role": "assistant", "content": ""}))
    for event in events:
        if isinstance(event, TokenEvent):
            yield sse(chunk(*ids, {"content": event.text}))
        elif isinstance(event, FinalEvent):
            result, generation = event.answer, generation_out(event.answer)
            if sources := _sources(result, sources_url):
                yield sse(chunk(*ids, {"content": sources}))
            extra = {
                "citations": [c.model_dump() for c in _citations(result, ask.base_url)],
                "usage": _usage(ask, result).model_dump(),
                "generation": None if generation is None else generation.model_dump(),
                "retrieval": result.retrieval or None,
            }
            yield sse(chunk(*ids, {}, "stop", **extra))
    yield sse("[DONE]")


def _openai_error(error: dict[str, Any]) -> dict[str, Any]:
    return {"message": error["message"], "type": error["error"], "code": error["error"]}


@router.post("/embeddings")
def embeddings(body: EmbeddingsIn, services: ServicesDep) -> EmbeddingsOut:
    """Embed texts into the CLIP space, as OpenAI's embeddings endpoint does."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not 1 <= len(texts) <= MAX_BATCH:
        raise InvalidInputError(f"input must hold 1 to {MAX_BATCH} texts, got {len(texts)}")
    for n, text in enumerate(texts):
        check_question(text, services.settings, f"input[{n}]")
    embedder = services.embedder
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise InvalidInputError(
            f"dimensions: this model gives {embedder.dim}, not {body.dimensions}"
        )
    vectors = embedder.embed_texts(texts)
    tokens = sum(embedder.count_tokens(texts))
    data = [
        EmbeddingOut(index=n, embedding=_encode(vector, body.encoding_format))
        for n, vector in enumerate(vectors)
    ]
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    return EmbeddingsOut(data=data, model=embedder.model_id, usage=usage)


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()

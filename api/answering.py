"""One way to ask the answerer, shared by ``/v1/chat`` and the OpenAI and Ollama endpoints."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PIL import Image

from api.queries import build_query
from api.schemas.search import QueryIn
from api.streaming import primed
from rag.answer import Answer, AnswerEvent
from rag.llm.base import ChatMessage, GenerationOptions
from rag.retrieval.types import Query
from rag.services import Services


@dataclass(frozen=True)
class Ask:
    """A checked question: the ``Query`` (its words and/or picture and how to retrieve), earlier
    turns, and generation options."""

    query: Query
    history: Sequence[ChatMessage] = ()
    options: GenerationOptions | None = None

    @property
    def question(self) -> str | None:
        return self.query.text


def make_ask(
    services: Services,
    question: str | None,
    image: Image.Image | None,
    history: Sequence[ChatMessage] = (),
    options: GenerationOptions | None = None,
    query: QueryIn | None = None,
) -> Ask:
    """Check the question (length cap), that there is something to ask, and the options."""
    checked = build_query(services.settings, question, image, query, "question")
    return Ask(checked, tuple(history), options)


def generation_options(
    services: Services, max_tokens: int | None, temperature: float | None
) -> GenerationOptions | None:
    """The request's options, ``max_tokens`` capped by ``MMRAG_LLM__MAX_TOKENS``."""
    if max_tokens is None and temperature is None:
        return None
    llm = services.settings.llm
    return GenerationOptions(
        max_tokens=min(max_tokens or llm.max_tokens, llm.max_tokens),
        temperature=llm.temperature if temperature is None else temperature,
    )


def answer(services: Services, ask: Ask) -> Answer:
    """The whole answer (blocking)."""
    base_url = services.settings.api.public_url
    return services.answerer.answer(
        ask.query, history=list(ask.history), options=ask.options, base_url=base_url
    )


def answer_events(services: Services, ask: Ask) -> Iterator[AnswerEvent]:
    """The answer's events, started up to the first token so early errors raise here."""
    base_url = services.settings.api.public_url
    events = services.answerer.stream(
        ask.query, history=list(ask.history), options=ask.options, base_url=base_url
    )
    return primed(events)

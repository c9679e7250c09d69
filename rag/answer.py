"""Grounded answers: retrieve (the retriever reranks), build the numbered context, ask the chat
model, return the answer with the hits it cited.

Example::

    answerer = Answerer(retriever, chat_model, settings.llm)
    answer = answerer.answer("What is on the red mat?")
    print(answer.text, [c.source for c in answer.citations])

    for event in answerer.stream("What is on the red mat?"):
        if isinstance(event, TokenEvent):
            print(event.text, end="")

Block ``n`` of the prompt is ``hits[n - 1]``: the model cites ``[n]``; the citations list those
hits (and, when the model cited none, the top hit used, flagged ``cited=False``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

from rag.citations import UNSUPPORTED_NOTE, CitationFilter, cited_numbers, says_unknown
from rag.config import LLMSettings
from rag.context_pictures import context_pictures
from rag.errors import InvalidInputError
from rag.llm.base import (
    ChatImage,
    ChatMessage,
    ChatModel,
    GenerationOptions,
    GenerationReport,
    TokenCounter,
)
from rag.llm.context import ContextBlock
from rag.payload import image_url
from rag.prompting import (
    IMAGE_QUESTION,
    AnswerMarkupGuard,
    build_context,
    build_messages,
    estimate_tokens,
    neutralize_markup,
)
from rag.retrieval.types import FusionMode, Hit, Query, Scores, SearchResult
from rag.store.base import Filter

NO_HITS_TEXT = "The collection has nothing on this, so I cannot answer it from the collection."
NO_MODEL = "none"
"""``Answer.model`` when no model was asked (nothing was found)."""
SNIPPET_CHARS = 300
HISTORY_SHARE = 2
"""Earlier turns may take up to ``context_tokens // HISTORY_SHARE`` tokens."""


class Searcher(Protocol):
    """What the answerer needs of a retriever."""

    def search(self, query: Query) -> SearchResult: ...


@dataclass(frozen=True)
class Citation:
    """A hit the answer rests on. ``n`` is its marker ``[n]``; ``cited`` is ``False`` for the
    fallback citation of an answer whose model cited nothing."""

    n: int
    id: str
    source: str
    snippet: str
    scores: Scores
    image_url: str | None
    cited: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "id": self.id,
            "source": self.source,
            "snippet": self.snippet,
            "scores": self.scores.as_dict(),
            "image_url": self.image_url,
            "cited": self.cited,
        }


@dataclass
class Answer:
    """An answer, the hits it cites, the model that wrote it, the retrieval it used and where
    the time went (seconds: ``retrieve``, ``rerank``, ``generate``, ``first_token`` (from the
    start of the call to the first piece of the answer), ``total``)."""

    text: str
    citations: list[Citation]
    model: str
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)
    context_size: int = 0
    """How many hits were put into the prompt (blocks ``1..context_size``)."""
    backend: str = ""
    """The backend that wrote the answer (``ollama``, ``openai``, ``llamacpp``, ``extractive``;
    empty when no model was asked)."""
    fallback_from: str | None = None
    """Set when a fallback answered: the preferred backend (``auto``) that could not."""
    prompt_tokens: int | None = None
    """The backend's own count of prompt tokens (``None`` where it gives none)."""
    completion_tokens: int | None = None
    """The backend's own count of answer tokens (``None`` where it gives none)."""
    images: int = 0
    """How many context pictures the model was sent (vision models)."""
    removed_citations: int = 0
    """Citation markers that named no context block and were removed from the text."""
    grounded: bool = True
    """Whether the answer cites a context block (an answer that does not is marked in its text,
    unless it says itself that the context does not answer)."""

    def generation(self) -> dict[str, Any]:
        """Who answered and how: backend, model, fallback, token counts, pictures, citations."""
        return {
            "backend": self.backend,
            "model": self.model,
            "fallback": self.fallback_from is not None,
            "fallback_from": self.fallback_from,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "images": self.images,
            "removed_citations": self.removed_citations,
            "grounded": self.grounded,
        }

    @property
    def found(self) -> bool:
        """Whether retrieval found anything (otherwise the text says so and no model was asked)."""
        return bool(self.hits)


@dataclass(frozen=True)
class RetrievalEvent:
    """Retrieval is done: the hits, best first, and its timings."""

    hits: list[Hit]
    timings: dict[str, float]
    type: Literal["retrieval"] = "retrieval"


@dataclass(frozen=True)
class TokenEvent:
    """The next piece of the answer text (already neutralised)."""

    text: str
    type: Literal["token"] = "token"


@dataclass(frozen=True)
class FinalEvent:
    """The complete answer with its citations; always the last event."""

    answer: Answer
    type: Literal["final"] = "final"


AnswerEvent = RetrievalEvent | TokenEvent | FinalEvent


class Answerer:
    """Answers questions from the collection with citations.

    ``retriever`` has ``search(Query) -> SearchResult`` (it reranks when configured);
    ``chat_model`` is any :class:`rag.llm.ChatModel`; ``llm_settings`` gives the default
    generation options and the context budget (``context_tokens``).
    """

    def __init__(
        self, retriever: Searcher, chat_model: ChatModel, llm_settings: LLMSettings
    ) -> None:
        self._retriever = retriever
        self._model = chat_model
        self._settings = llm_settings

    @property
    def chat_model(self) -> ChatModel:
        return self._model

    def answer(
        self,
        question: str | None,
        image: Image.Image | None = None,
        *,
        top_k: int | None = None,
        fusion: FusionMode | None = None,
        weights: dict[str, float] | None = None,
        filter: Filter | None = None,
        rerank: bool | None = None,
        history: Sequence[ChatMessage] | None = None,
        options: GenerationOptions | None = None,
        base_url: str = "",
    ) -> Answer:
        """The whole answer at once (same arguments as :meth:`stream`)."""
        events = self.stream(
            question, image, top_k=top_k, fusion=fusion, weights=weights, filter=filter,
            rerank=rerank, history=history, options=options, base_url=base_url,
        )  # fmt: skip
        for event in events:
            if isinstance(event, FinalEvent):
                return event.answer
        raise AssertionError("the answer stream ended without a final event")

    def stream(
        self,
        question: str | None,
        image: Image.Image | None = None,
        *,
        top_k: int | None = None,
        fusion: FusionMode | None = None,
        weights: dict[str, float] | None = None,
        filter: Filter | None = None,
        rerank: bool | None = None,
        history: Sequence[ChatMessage] | None = None,
        options: GenerationOptions | None = None,
        base_url: str = "",
    ) -> Iterator[AnswerEvent]:
        """Events in order: one :class:`RetrievalEvent`, :class:`TokenEvent` pieces, one
        :class:`FinalEvent`. An image is the image query; ``question`` may then be ``None``.

        Raises ``InvalidInputError`` without a question or an image, and the chat model's
        ``LLMUnavailableError``/``LLMBusyError``/``LLMTimeoutError`` (a stream that breaks
        midway raises; its partial text never becomes a final answer).
        """
        started = time.perf_counter()
        text = _question_text(question, image)
        query = Query(text=question or None, image=image, fusion=fusion, weights=weights,
                      top_k=top_k, filter=filter, rerank=rerank)  # fmt: skip
        result = self._retriever.search(query)
        timings = _retrieval_timings(result, time.perf_counter() - started)
        yield RetrievalEvent(result.hits, dict(timings))
        yield from self._answer_events(text, image, result.hits, history, options, base_url,
                                       timings, started)  # fmt: skip

    def _answer_events(
        self,
        question: str,
        image: Image.Image | None,
        hits: list[Hit],
        history: Sequence[ChatMessage] | None,
        options: GenerationOptions | None,
        base_url: str,
        timings: dict[str, float],
        started: float,
    ) -> Iterator[AnswerEvent]:
        """Everything after retrieval: context, pictures, generation, citation checks."""
        if not hits:
            timings["total"] = time.perf_counter() - started
            yield FinalEvent(Answer(NO_HITS_TEXT, [], NO_MODEL, [], timings))
            return
        blocks = self._context(hits)
        images = self._pictures(hits, blocks)
        messages = build_messages(
            question, blocks, self._history(history or ()), images=images,
            image_query=image is not None and question == IMAGE_QUESTION,
        )  # fmt: skip
        pieces: list[str] = []
        report = GenerationReport()
        citations = CitationFilter(len(blocks))
        options = options or self._default_options()
        yield from self._generate(messages, options, pieces, timings, started, report, citations)
        text = "".join(pieces)
        grounded = bool(cited_numbers(text, len(blocks)))
        if not grounded and not says_unknown(text):
            pieces.append(UNSUPPORTED_NOTE)
            yield TokenEvent(UNSUPPORTED_NOTE)
            text += UNSUPPORTED_NOTE
        timings["total"] = time.perf_counter() - started
        answer = Answer(
            text, cite(text, blocks, hits, base_url), report.model or self._model.model_name,
            hits, timings, len(blocks), backend=report.backend,
            fallback_from=report.fallback_from, prompt_tokens=report.prompt_tokens,
            completion_tokens=report.completion_tokens, images=report.images,
            removed_citations=citations.removed, grounded=grounded,
        )  # fmt: skip
        yield FinalEvent(answer)

    def _generate(
        self,
        messages: list[ChatMessage],
        options: GenerationOptions,
        pieces: list[str],
        timings: dict[str, float],
        started: float,
        report: GenerationReport,
        citations: CitationFilter,
    ) -> Iterator[TokenEvent]:
        guard = AnswerMarkupGuard()
        begun = time.perf_counter()
        for piece in self._model.stream(messages, options, report):
            safe = citations.feed(guard.feed(piece))
            if safe:
                timings.setdefault("first_token", time.perf_counter() - started)
                pieces.append(safe)
                yield TokenEvent(safe)
        if tail := citations.feed(guard.flush()) + citations.flush():
            timings.setdefault("first_token", time.perf_counter() - started)
            pieces.append(tail)
            yield TokenEvent(tail)
        timings["generate"] = time.perf_counter() - begun
        timings.setdefault("first_token", time.perf_counter() - started)

    def _pictures(self, hits: Sequence[Hit], blocks: Sequence[ContextBlock]) -> list[ChatImage]:
        """The top blocks' pictures when the model reads pictures (none otherwise)."""
        limit = self._settings.vision_images
        if not limit or not any(h.has_image for h in hits) or not self._model.accepts_images():
            return []
        return context_pictures(hits, blocks, limit, self._settings.vision_max_side)

    def _context(self, hits: Sequence[Hit]) -> list[ContextBlock]:
        return build_context(hits, self._settings.context_tokens, self._count_tokens)

    def _history(self, history: Sequence[ChatMessage]) -> list[ChatMessage]:
        """The most recent earlier turns that fit in their share of the budget."""
        budget = self._settings.context_tokens // HISTORY_SHARE
        kept: list[ChatMessage] = []
        for message in reversed(history):
            budget -= self._count_tokens(message.content)
            if budget < 0:
                break
            kept.append(message)
        return kept[::-1]

    def _count_tokens(self, text: str) -> int:
        if isinstance(self._model, TokenCounter):
            return self._model.count_tokens(text)
        return estimate_tokens(text)

    def _default_options(self) -> GenerationOptions:
        return GenerationOptions(
            max_tokens=self._settings.max_tokens, temperature=self._settings.temperature
        )


def _question_text(question: str | None, image: Image.Image | None) -> str:
    if question and question.strip():
        return question.strip()
    if image is not None:
        return IMAGE_QUESTION
    raise InvalidInputError("ask a question, give an image, or both")


def _retrieval_timings(result: SearchResult, elapsed: float) -> dict[str, float]:
    rerank = result.timings.get("rerank", 0.0)
    return {"retrieve": max(elapsed - rerank, 0.0), "rerank": rerank}


def cite(
    text: str, blocks: Sequence[ContextBlock], hits: Sequence[Hit], base_url: str = ""
) -> list[Citation]:
    """Citations for the blocks ``text`` cites (block ``n`` is ``hits[n - 1]``); the first block,
    flagged uncited, if none."""
    numbers = cited_numbers(text, len(blocks))
    if not numbers:
        return [citation(blocks[0], hits[0], base_url, cited=False)] if blocks else []
    return [citation(blocks[n - 1], hits[n - 1], base_url) for n in numbers]


def citation(block: ContextBlock, hit: Hit, base_url: str = "", *, cited: bool = True) -> Citation:
    """The citation of one context block (``hit`` is the item it shows)."""
    snippet = neutralize_markup(hit.text[:SNIPPET_CHARS])
    url = image_url(hit.id, base_url) if hit.has_image else None
    return Citation(block.n, hit.id, hit.source, snippet, hit.scores, url, cited)

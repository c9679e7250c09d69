"""Grounded answers: retrieve (the retriever reranks), build the numbered context, ask the chat
model, return the answer with the hits it cited.

Example::

    answerer = Answerer(retriever, chat_model, settings.llm)
    answer = answerer.answer(Query(text="What is on the red mat?"))
    print(answer.text, [c.source for c in answer.citations])

    for event in answerer.stream(Query(text="What is on the red mat?", top_k=3)):
        if isinstance(event, TokenEvent):
            print(event.text, end="")

Block ``n`` of the prompt is ``hits[n - 1]``: the model cites ``[n]``; the citations list those
hits (and, when the model cited none, the top hit used, flagged ``cited=False``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from rag import payload as keys
from rag import tracing
from rag.answer_guards import CUT_NOTE, ContextEchoFilter, RepetitionGuard
from rag.citations import UNSUPPORTED_NOTE, CitationFilter, cited_numbers, says_unknown
from rag.condense import Condensed, condense
from rag.config import LLMSettings
from rag.context_pictures import context_pictures
from rag.errors import InvalidInputError
from rag.highlights import best_boxes, sentences_citing
from rag.llm.base import (
    ChatImage,
    ChatMessage,
    ChatModel,
    GenerationOptions,
    GenerationReport,
    TokenCounter,
)
from rag.llm.context import ContextBlock
from rag.prompting import (
    IMAGE_QUESTION,
    AnswerMarkupGuard,
    build_context,
    build_messages,
    estimate_tokens,
    neutralize_markup,
)
from rag.retrieval.types import Hit, Query, Scores, Searcher, SearchResult

NO_HITS_TEXT = "The collection has nothing on this, so I cannot answer it from the collection."
NO_MODEL = "none"
"""``Answer.model`` when no model was asked (nothing was found)."""
SNIPPET_CHARS = 300
HISTORY_SHARE = 2
"""Earlier turns may take up to ``context_tokens // HISTORY_SHARE`` tokens."""
ANSWER_STOPS = ("\nQuestion:", "<|im_start|>", "<|user|>")
"""Stop sequences of every answer: where a small model starts writing the next turn."""
TEMPLATE_TOKENS = 4
"""Tokens a chat template adds around each message (role and delimiters), for estimates."""
REPEAT_PENALTY = 1.1
"""The repetition penalty asked of the backends that take one (unless the caller set one)."""


@dataclass(frozen=True)
class Citation:
    """A hit the answer rests on. ``n`` is its marker ``[n]``; ``cited`` is ``False`` for the
    fallback citation of an answer whose model cited nothing. ``payload`` is the hit's: the
    API and adapters build picture and document links from it (``rag/`` knows no URLs)."""

    n: int
    id: str
    source: str
    snippet: str
    scores: Scores
    has_picture: bool
    cited: bool = True
    payload: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    highlights: list[list[float]] = field(default_factory=list, compare=False)
    """Boxes ``[x0, y0, x1, y1]`` (fractions of the item's picture) of the lines that best
    match the answer's sentences citing it (:mod:`rag.highlights`)."""

    @property
    def document(self) -> dict[str, Any] | None:
        """``{"id", "title", "source", "pages"}`` for a page, figure or passage."""
        document = self.payload.get(keys.DOCUMENT)
        return document if isinstance(document, dict) else None

    @property
    def page(self) -> int | None:
        page = self.payload.get(keys.PAGE)
        return page if isinstance(page, int) else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "id": self.id,
            "source": self.source,
            "snippet": self.snippet,
            "scores": self.scores.as_dict(),
            "cited": self.cited,
            "kind": self.payload.get(keys.KIND),
            "document": self.document,
            "page": self.page,
            "figure": self.payload.get(keys.FIGURE),
            "highlights": self.highlights,
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
    """The prompt's tokens: the backend's own count, else an estimate of the whole prompt sent
    (system prompt, history, context and question; ``tokens_estimated``)."""
    completion_tokens: int | None = None
    """The answer's tokens: the backend's own count, else an estimate (``tokens_estimated``)."""
    tokens_estimated: bool = False
    """Whether a token count is an estimate (the backend gave none)."""
    images: int = 0
    """How many context pictures the model was sent (vision models)."""
    removed_citations: int = 0
    """Citation markers that named no context block and were removed from the text."""
    grounded: bool = True
    """Whether the answer cites a context block (an answer that does not is marked in its text,
    unless it says itself that the context does not answer)."""
    cut: bool = False
    """Whether the answer was cut because the model began repeating itself (its text ends
    with :data:`rag.answer_guards.CUT_NOTE`)."""
    retrieval: dict[str, Any] = field(default_factory=dict)
    """The query that was searched and how it was made (:meth:`rag.condense.Condensed.as_dict`):
    ``{"query", "method", "fallback", "candidates"}``."""

    def generation(self) -> dict[str, Any]:
        """Who answered and how: backend, model, fallback, token counts, pictures, citations."""
        return {
            "backend": self.backend,
            "model": self.model,
            "fallback": self.fallback_from is not None,
            "fallback_from": self.fallback_from,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens_estimated": self.tokens_estimated,
            "images": self.images,
            "removed_citations": self.removed_citations,
            "grounded": self.grounded,
            "cut": self.cut,
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
    query: dict[str, Any] = field(default_factory=dict)
    """The query that was searched and how it was made (as :attr:`Answer.retrieval`)."""
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
        self,
        retriever: Searcher,
        chat_model: ChatModel,
        llm_settings: LLMSettings,
        picture_roots: Sequence[str | Path] = (),
    ) -> None:
        """``picture_roots``: folders the context pictures may be read from besides each item's
        own ingest root (the data and files folders)."""
        self._retriever = retriever
        self._model = chat_model
        self._settings = llm_settings
        self._picture_roots = tuple(picture_roots)

    @property
    def chat_model(self) -> ChatModel:
        return self._model

    def answer(
        self,
        query: Query,
        *,
        history: Sequence[ChatMessage] | None = None,
        options: GenerationOptions | None = None,
    ) -> Answer:
        """The whole answer at once (same arguments as :meth:`stream`)."""
        events = self.stream(query, history=history, options=options)
        for event in events:
            if isinstance(event, FinalEvent):
                return event.answer
        raise AssertionError("the answer stream ended without a final event")

    def stream(
        self,
        query: Query,
        *,
        history: Sequence[ChatMessage] | None = None,
        options: GenerationOptions | None = None,
    ) -> Iterator[AnswerEvent]:
        """Events in order: one :class:`RetrievalEvent`, :class:`TokenEvent` pieces, one
        :class:`FinalEvent`. ``query`` is the question (its text) and how to retrieve for it
        (signals, weights, fusion, filter, top-k, rerank); its image is the image query, and its
        text may then be ``None``.

        Raises ``InvalidInputError`` without a question or an image, and the chat model's
        ``LLMUnavailableError``/``LLMBusyError``/``LLMTimeoutError`` (a stream that breaks
        midway raises; its partial text never becomes a final answer).
        """
        started = time.perf_counter()
        text = _question_text(query.text, query.image)
        if query.text is not None and not query.text.strip():
            query = replace(query, text=None)
        condensed = self.condense(query.text, history or ())
        condense_s = time.perf_counter() - started
        searched = replace(query, text=condensed.text, candidates=condensed.candidates)
        result = self._retriever.search(searched)
        timings = _retrieval_timings(result, time.perf_counter() - started - condense_s)
        if condensed.method not in ("question", "off"):
            timings["condense"] = condense_s
        yield RetrievalEvent(result.hits, dict(timings), condensed.as_dict())
        events = self._answer_events(
            text, query.image, result.hits, history, options, timings, started
        )
        for event in events:
            if isinstance(event, FinalEvent):
                event.answer.retrieval = condensed.as_dict()
            yield event

    def condense(self, question: str | None, history: Sequence[ChatMessage]) -> Condensed:
        """The text to search for ``question`` after the earlier turns ``history``
        (``MMRAG_LLM__CONDENSE``; see :mod:`rag.condense`)."""
        return condense(question, history, self._model, self._settings.condense)

    def _answer_events(
        self,
        question: str,
        image: Image.Image | None,
        hits: list[Hit],
        history: Sequence[ChatMessage] | None,
        options: GenerationOptions | None,
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
        options = guarded(options or self._default_options())
        loop = RepetitionGuard()
        yield from self._generate(
            messages, options, pieces, timings, started, report, citations, loop
        )
        if loop.stopped:
            pieces.append(CUT_NOTE)
            yield TokenEvent(CUT_NOTE)
        text = "".join(pieces)
        grounded = bool(cited_numbers(text, len(blocks)))
        if not grounded and not says_unknown(text):
            pieces.append(UNSUPPORTED_NOTE)
            yield TokenEvent(UNSUPPORTED_NOTE)
            text += UNSUPPORTED_NOTE
        timings["total"] = time.perf_counter() - started
        prompt_tokens, completion_tokens = report.prompt_tokens, report.completion_tokens
        estimated = prompt_tokens is None or completion_tokens is None
        if prompt_tokens is None:
            prompt_tokens = self._prompt_estimate(messages)
        if completion_tokens is None:
            completion_tokens = self._count_tokens(text)
        answer = Answer(
            text, cite(text, blocks, hits), report.model or self._model.model_name,
            hits, timings, len(blocks), backend=report.backend,
            fallback_from=report.fallback_from, prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, tokens_estimated=estimated, images=report.images,
            removed_citations=citations.removed, grounded=grounded, cut=loop.stopped,
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
        loop: RepetitionGuard,
    ) -> Iterator[TokenEvent]:
        """The model's pieces, defused (image markup), without context markup, cut at a loop."""
        guard, echo = AnswerMarkupGuard(), ContextEchoFilter()
        begun = time.perf_counter()
        stream = self._model.stream(messages, options, report)
        try:
            for piece in stream:
                safe = citations.feed(loop.feed(echo.feed(guard.feed(piece))))
                if safe:
                    timings.setdefault("first_token", time.perf_counter() - started)
                    pieces.append(safe)
                    yield TokenEvent(safe)
                if loop.stopped:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # a cut stream gives the model back now
        rest = loop.feed(echo.feed(guard.flush()) + echo.flush()) + loop.flush()
        if tail := citations.feed(rest) + citations.flush():
            timings.setdefault("first_token", time.perf_counter() - started)
            pieces.append(tail)
            yield TokenEvent(tail)
        timings["generate"] = time.perf_counter() - begun
        timings.setdefault("first_token", time.perf_counter() - started)
        _trace_generation(report, timings)

    def _pictures(self, hits: Sequence[Hit], blocks: Sequence[ContextBlock]) -> list[ChatImage]:
        """The top blocks' pictures when the model reads pictures (none otherwise)."""
        limit = self._settings.vision_images
        if not limit or not any(h.has_image for h in hits) or not self._model.accepts_images():
            return []
        return context_pictures(
            hits, blocks, limit, self._settings.vision_max_side, self._picture_roots
        )

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

    def _prompt_estimate(self, messages: Sequence[ChatMessage]) -> int:
        """The tokens of every message sent, plus a few per message for the chat template."""
        return sum(self._count_tokens(m.content) + TEMPLATE_TOKENS for m in messages)

    def _count_tokens(self, text: str) -> int:
        if isinstance(self._model, TokenCounter):
            return self._model.count_tokens(text)
        return estimate_tokens(text)

    def _default_options(self) -> GenerationOptions:
        return GenerationOptions(
            max_tokens=self._settings.max_tokens, temperature=self._settings.temperature
        )


def guarded(options: GenerationOptions) -> GenerationOptions:
    """``options`` with the answer's stop sequences and repetition penalty where unset."""
    return replace(
        options,
        stop=options.stop or ANSWER_STOPS,
        repeat_penalty=REPEAT_PENALTY if options.repeat_penalty is None else options.repeat_penalty,
    )


def _question_text(question: str | None, image: Image.Image | None) -> str:
    if question and question.strip():
        return question.strip()
    if image is not None:
        return IMAGE_QUESTION
    raise InvalidInputError("ask a question, give an image, or both")


def _trace_generation(report: GenerationReport, timings: dict[str, float]) -> None:
    """The LLM call as the span ``llm.generate`` (OpenTelemetry's ``gen_ai`` attributes), from
    the generation time already measured."""
    if not tracing.enabled():
        return
    attributes: dict[str, str | int | float] = {
        "gen_ai.system": report.backend,
        "gen_ai.request.model": report.model,
        "mmrag.first_token_s": timings["first_token"],
    }
    if report.prompt_tokens is not None:
        attributes["gen_ai.usage.input_tokens"] = report.prompt_tokens
    if report.completion_tokens is not None:
        attributes["gen_ai.usage.output_tokens"] = report.completion_tokens
    tracing.finished("llm.generate", timings["generate"], attributes)


def _retrieval_timings(result: SearchResult, elapsed: float) -> dict[str, float]:
    rerank = result.timings.get("rerank", 0.0)
    return {"retrieve": max(elapsed - rerank, 0.0), "rerank": rerank}


def cite(text: str, blocks: Sequence[ContextBlock], hits: Sequence[Hit]) -> list[Citation]:
    """Citations for the blocks ``text`` cites (block ``n`` is ``hits[n - 1]``); the first block,
    flagged uncited, if none."""
    numbers = cited_numbers(text, len(blocks))
    if not numbers:
        return [citation(blocks[0], hits[0], cited=False)] if blocks else []
    return [
        replace(
            citation(blocks[n - 1], hits[n - 1]),
            highlights=best_boxes(hits[n - 1].payload, sentences_citing(text, n)),
        )
        for n in numbers
    ]


def citation(block: ContextBlock, hit: Hit, *, cited: bool = True) -> Citation:
    """The citation of one context block (``hit`` is the item it shows)."""
    snippet = neutralize_markup(hit.text[:SNIPPET_CHARS])
    picture = hit.has_image or bool(hit.payload.get(keys.IMAGE_PATH))
    return Citation(block.n, hit.id, hit.source, snippet, hit.scores, picture, cited, hit.payload)

"""The extractive backend: no generation. It quotes the best supporting sentence of each of the top
context blocks, each followed by its citation marker ``[n]``.

It reads the typed context of the grounded user message (:class:`rag.llm.context.Grounding`), so
it needs no model, no download and no GPU, and answers in milliseconds. A block is quoted only
when its best sentence shares a word with the question; when none does, the answer says that the
context does not hold the answer (a picture query quotes the top blocks as they are).

Example::

    model = ExtractiveChatModel()
    model.generate(build_messages("What is on the mat?", blocks), GenerationOptions())
    # '"A cat sits on the red mat." [1]'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from rag.llm.base import BackendInfo, ChatMessage, GenerationOptions, GenerationReport
from rag.llm.context import Grounding

BACKEND = "extractive"
MODEL_NAME = "extractive"
MAX_QUOTES = 3
MAX_QUOTE_CHARS = 400
NOTHING_TO_QUOTE = "The context holds no text to quote for this question."
NOT_IN_CONTEXT = "The collection does not say: no context block answers this question."

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+")
_STOPWORD_TEXT = """a an and are as at be by does do for from how in is it its of on or that the
this to was what when where which who why with"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


class ExtractiveChatModel:
    """Answers with quotes from the top context blocks (``max_quotes`` of them at most)."""

    def __init__(self, max_quotes: int = MAX_QUOTES) -> None:
        self.max_quotes = max_quotes

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    @property
    def backend(self) -> str:
        return BACKEND

    def info(self) -> BackendInfo:
        return BackendInfo(BACKEND, MODEL_NAME)

    def accepts_images(self) -> bool:
        return False

    def check(self) -> None:
        """Always ready."""

    def warm_up(self) -> None:
        """Nothing to load."""

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> str:
        """Quotes of the best sentence of each of the top blocks, each followed by ``[n]``."""
        return "".join(self.stream(messages, options, report))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """The same answer, one quote at a time (cut at the first ``options.stop`` string)."""
        if report is not None:
            report.answered_by(BACKEND, MODEL_NAME)
        pieces = _until_stop(self._pieces(messages), options.stop)
        if report is not None:
            report.usage(0, len(_WORD.findall("".join(pieces))))
        yield from pieces

    def _pieces(self, messages: Sequence[ChatMessage]) -> list[str]:
        grounding = next((m.grounding for m in reversed(messages) if m.grounding), None)
        if grounding is None or not any(block.text.strip() for block in grounding.blocks):
            return [NOTHING_TO_QUOTE]
        quotes = _quotes(grounding)[: self.max_quotes]
        if not quotes:
            return [NOT_IN_CONTEXT]
        return [quote if i == 0 else " " + quote for i, quote in enumerate(quotes)]


def _quotes(grounding: Grounding) -> list[str]:
    terms = _terms(grounding.question)
    anything = grounding.image_query or not terms
    quotes = []
    for block in grounding.blocks:
        if not block.text.strip():
            continue
        sentence, shared = _best_sentence(block.text, terms)
        if shared or anything:
            quotes.append(f'"{sentence}" [{block.n}]')
    return quotes


def _until_stop(pieces: list[str], stop: Sequence[str]) -> list[str]:
    """``pieces`` up to (not including) the first stop string of their joined text."""
    text = "".join(pieces)
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=len(text))
    kept, used = [], 0
    for piece in pieces:
        if used >= cut:
            break
        kept.append(piece[: cut - used])
        used += len(piece)
    return [piece for piece in kept if piece]


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def _best_sentence(text: str, terms: set[str]) -> tuple[str, int]:
    """The sentence sharing most words with the question (the first one on a tie) and how many
    words it shares."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    best = max(sentences, key=lambda s: len(terms & _terms(s)), default=text.strip())
    shared = len(terms & _terms(best))
    best = best.replace('"', "'")
    if len(best) > MAX_QUOTE_CHARS:
        best = best[: MAX_QUOTE_CHARS - 1].rstrip() + "…"
    return best, shared

"""The extractive backend: no generation. It quotes the best supporting sentences of the top
context blocks, each followed by its citation marker ``[n]``.

It reads the blocks of the grounded prompt (:func:`rag.prompting.parse_context`), so it needs no
model, no download and no GPU, and answers in milliseconds.

Example::

    model = ExtractiveChatModel()
    model.generate(build_messages("What is on the mat?", blocks), GenerationOptions())
    # '"A cat sits on the red mat." [1]'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from rag import prompting  # a module import: rag.prompting imports rag.llm.base
from rag.llm.base import ChatMessage, GenerationOptions

MODEL_NAME = "extractive"
MAX_QUOTES = 3
MAX_QUOTE_CHARS = 400
NOTHING_TO_QUOTE = "The context holds no text to quote for this question."

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

    def check(self) -> None:
        """Always ready."""

    def warm_up(self) -> None:
        """Nothing to load."""

    def generate(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> str:
        """Quotes of the best sentence of each of the top blocks, each followed by ``[n]``."""
        return " ".join(self._quotes(messages)) or NOTHING_TO_QUOTE

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        """The same answer, one quote at a time."""
        quotes = self._quotes(messages)
        if not quotes:
            yield NOTHING_TO_QUOTE
        for i, quote in enumerate(quotes):
            yield quote if i == 0 else " " + quote

    def _quotes(self, messages: Sequence[ChatMessage]) -> list[str]:
        user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        question, blocks = prompting.parse_context(user)
        terms = _terms(question)
        quotes = [f'"{_best_sentence(text, terms)}" [{n}]' for n, text in blocks if text.strip()]
        return quotes[: self.max_quotes]


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def _best_sentence(text: str, terms: set[str]) -> str:
    """The sentence sharing most words with the question (the first one on a tie)."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    best = max(sentences, key=lambda s: len(terms & _terms(s)), default=text.strip())
    best = best.replace('"', "'")
    return best if len(best) <= MAX_QUOTE_CHARS else best[: MAX_QUOTE_CHARS - 1].rstrip() + "…"

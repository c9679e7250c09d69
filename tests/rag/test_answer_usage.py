"""Honest usage: through the ``openai`` backend against the real ``llama_cpp.server`` (which
streams no counts), ``prompt_tokens`` covers the whole prompt sent, flagged as an estimate."""

from __future__ import annotations

import pytest

from rag import payload as keys
from rag.answer import Answerer
from rag.config import LLMSettings
from rag.llm import OpenAIChatModel
from rag.llm.base import GenerationOptions
from rag.prompting import estimate_tokens
from rag.retrieval.types import Hit, Query, Scores, SearchResult

TEXTS = [
    f"Shelf {shelf} of the shape warehouse holds {n} small {colour} squares below a triangle."
    for n, (shelf, colour) in enumerate(
        zip("ABCD", ("red", "blue", "green", "yellow"), strict=True), 2
    )
]


class FourBlocks:
    def search(self, query: Query) -> SearchResult:
        hits = [Hit(f"h{n}", {keys.TEXT: t}, Scores(None, 1, 1, None)) for n, t in enumerate(TEXTS)]
        return SearchResult(hits, {})


@pytest.mark.llm
def test_prompt_tokens_cover_the_context_through_a_real_llama_cpp_server(llama_server) -> None:
    model = OpenAIChatModel(llama_server.url, llama_server.model)
    settings = LLMSettings(backend="openai", condense="off")
    answerer = Answerer(FourBlocks(), model, settings)
    question = "Which shelf holds blue squares?"
    answer = answerer.answer(
        Query(text=question), options=GenerationOptions(max_tokens=8, temperature=0.0)
    )
    assert answer.context_size == 4
    context = sum(estimate_tokens(text) for text in TEXTS)
    assert answer.prompt_tokens is not None and answer.prompt_tokens > context
    assert answer.prompt_tokens > estimate_tokens(question) + context
    assert answer.completion_tokens is not None

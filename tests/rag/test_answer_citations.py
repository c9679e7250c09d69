"""Citations that hold: markers naming no context block are removed (and counted) as the answer
streams, and an answer that cites nothing is marked unless it says the context is silent."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.citations import (
    UNSUPPORTED_NOTE,
    CitationFilter,
    cited_numbers,
    filter_citations,
    says_unknown,
)
from rag.config import LLMSettings
from rag.llm import ExtractiveChatModel, GenerationOptions, LlamaCppChatModel
from rag.llm.extractive import NOT_IN_CONTEXT, NOTHING_TO_QUOTE
from rag.retrieval.types import Query
from tests.rag.test_answer import HITS, ScriptedModel, answerer


def test_markers_outside_the_context_are_removed_and_counted() -> None:
    assert filter_citations("Paris [1] and Rome [7]. Both [2, 9][3].", 3) == (
        "Paris [1] and Rome. Both [2][3].",
        2,
    )
    assert filter_citations("No markers, [a link] and [0]!", 3) == ("No markers, [a link] and!", 1)


@given(st.lists(st.sampled_from(["Paris", " ", "[", "1", "7", "]", ",", " [2", "3]", "."])))
def test_the_filtered_stream_does_not_depend_on_where_it_was_split(pieces: list[str]) -> None:
    streamed = CitationFilter(3)
    text = "".join(streamed.feed(piece) for piece in pieces) + streamed.flush()
    assert (text, streamed.removed) == filter_citations("".join(pieces), 3)


def test_answer_drops_an_invented_block_number() -> None:
    model = ScriptedModel(["Red ", "[1]", " and ", "[12", "]", "."])
    answer = answerer(model)[0].answer(Query(text="Colour?"))
    assert answer.text == "Red [1] and."
    assert answer.removed_citations == 1 and answer.grounded
    assert [c.n for c in answer.citations] == [1]


def test_uncited_answer_is_marked_as_not_backed_by_the_collection() -> None:
    events = list(answerer(ScriptedModel(["It is ", "[9] red."]))[0].stream(Query(text="Colour?")))
    answer = events[-1].answer
    assert answer.text == "It is red." + UNSUPPORTED_NOTE
    assert "".join(e.text for e in events if e.type == "token") == answer.text
    assert not answer.grounded and answer.removed_citations == 1


def test_an_answer_saying_the_context_is_silent_is_left_as_it_is() -> None:
    text = "The collection does not say when the ferry leaves."
    answer = answerer(ScriptedModel([text]))[0].answer(Query(text="When?"))
    assert answer.text == text and not answer.grounded
    assert says_unknown(NOT_IN_CONTEXT) and says_unknown(NOTHING_TO_QUOTE)
    assert not says_unknown("The lighthouse is red and the context is clear.")


def test_extractive_says_when_the_context_does_not_hold_the_answer() -> None:
    answer = answerer(ExtractiveChatModel())[0].answer(Query(text="Who won the 1954 World Cup?"))
    assert answer.text == NOT_IN_CONTEXT
    assert answer.backend == "extractive" and len(answer.citations) == 1
    assert not answer.citations[0].cited and answer.hits == HITS


@pytest.mark.llm
def test_smollm_answer_from_a_context_without_the_answer_says_so() -> None:
    smollm = LlamaCppChatModel.from_settings(LLMSettings(backend="llamacpp", n_ctx=2048))
    options = GenerationOptions(max_tokens=48, temperature=0.0)
    answer = answerer(smollm)[0].answer(Query(text="Who won the 1954 World Cup?"), options=options)
    assert answer.backend == "llamacpp"
    assert says_unknown(answer.text) or answer.text.endswith(UNSUPPORTED_NOTE)
    assert all(n <= answer.context_size for n in cited_numbers(answer.text, 99))


def test_a_long_run_of_spaces_in_an_answer_is_filtered_in_linear_time() -> None:
    text = "Paris" + " " * 20_000 + "is big [1][7]."  # 16 s before
    started = time.perf_counter()
    filtered, removed = filter_citations(text, blocks=3)
    assert time.perf_counter() - started < 0.5
    assert (filtered, removed) == ("Paris" + " " * 20_000 + "is big [1].", 1)

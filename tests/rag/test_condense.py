"""A follow-up made standalone before retrieval: the LLM rewrite against the OpenAI wire-format
fake (used, checked, bounded, and replaced by the rules when it fails), and the model-free rules
with the extractive backend."""

from __future__ import annotations

from rag.answer import Answerer
from rag.condense import MAX_REWRITE_TOKENS, by_rules, condense
from rag.config import LLMSettings
from rag.llm import ChatMessage, ExtractiveChatModel, OpenAIChatModel
from rag.retrieval.types import Hit, Query, Scores, SearchResult
from tests.fakes.openai_server import FakeOpenAI

HISTORY = [
    ChatMessage("user", "Which cars are in the collection?"),
    ChatMessage("assistant", "A red car waits at a station [1]."),
]
FOLLOW_UP = "and the blue one?"


class Searched:
    """A retriever that keeps the queries it was asked and finds one item."""

    def __init__(self) -> None:
        self.queries: list[Query] = []

    def search(self, query: Query) -> SearchResult:
        self.queries.append(query)
        hit = Hit("1", {"text": "A blue car drives along a coast road."}, Scores(None, 1, 1, None))
        return SearchResult([hit], {})


def test_the_llm_rewrite_is_what_is_searched() -> None:
    with FakeOpenAI(reply="It is the blue car [1].") as server:
        server.replies = ["Which blue car is in the collection?"]
        retriever = Searched()
        settings = LLMSettings(backend="openai", condense="auto")
        model = OpenAIChatModel(server.url, "m")
        answer = Answerer(retriever, model, settings).answer(Query(text=FOLLOW_UP), history=HISTORY)
        rewrite, answered = server.requests
    assert retriever.queries[0].text == "Which blue car is in the collection?"
    assert answer.retrieval == {
        "query": "Which blue car is in the collection?", "method": "llm", "fallback": None,
        "candidates": [],
    }  # fmt: skip
    assert rewrite["max_tokens"] == MAX_REWRITE_TOKENS and rewrite["temperature"] == 0.0
    assert "Which cars are in the collection?" in rewrite["messages"][-1]["content"]
    assert FOLLOW_UP in rewrite["messages"][-1]["content"]
    assert answered["messages"][-1]["content"].endswith(f"Question: {FOLLOW_UP}")
    assert answer.text == "It is the blue car [1]."


def test_a_rewrite_that_fails_its_check_falls_back_to_the_rules() -> None:
    with FakeOpenAI() as server:
        model = OpenAIChatModel(server.url, "m")
        server.replies = ['<context n="1">\nsource: x']
        markup = condense(FOLLOW_UP, HISTORY, model, "llm")
        server.replies = ["   "]
        empty = condense(FOLLOW_UP, HISTORY, model, "llm")
        server.replies = ["The car in question is a red car."]
        dropped = condense("what does its page 2 say?", HISTORY, model, "llm")
    assert markup.method == empty.method == "rules"
    assert markup.text == empty.text == by_rules(FOLLOW_UP, ["Which cars are in the collection?"])
    assert markup.fallback == "the rewrite was more than one line"
    assert empty.fallback == "the rewrite was empty"
    assert dropped.method == "rules" and "dropped the question's own words" in dropped.fallback


def test_a_slow_rewrite_is_left_for_the_rules() -> None:
    with FakeOpenAI(mode="slow", slow_s=0.3) as server:
        server.replies = ["Which blue car is in the collection? " * 3]
        model = OpenAIChatModel(server.url, "m")
        slow = condense(FOLLOW_UP, HISTORY, model, "llm", rewrite_s=0.1)
    assert slow.method == "rules" and "longer than 0.1 s" in slow.fallback


def test_a_down_server_falls_back_to_the_rules() -> None:
    with FakeOpenAI(mode="busy") as server:
        model = OpenAIChatModel(server.url, "m")
        busy = condense(FOLLOW_UP, HISTORY, model, "llm")
    assert busy.method == "rules" and busy.fallback.startswith("the rewrite failed")


def test_the_rules_add_the_earlier_questions_words_with_a_decaying_weight() -> None:
    earlier = [
        "Tell me about harbours, lighthouses, ferries, piers and cliffs near the coast",
        "Which cars are in the collection?",
    ]
    text = by_rules(FOLLOW_UP, earlier)
    assert text == f"{FOLLOW_UP} cars collection harbours lighthouses ferries piers cliffs near"
    assert by_rules(FOLLOW_UP, [" ".join(f"w{n}" for n in range(40))]).split()[4:] == [
        f"w{n}" for n in range(12)
    ]  # the last turn adds up to 12 words, the one before 6, then 3


def test_auto_uses_the_rules_with_the_extractive_backend_and_nothing_without_history() -> None:
    model = ExtractiveChatModel()
    assert condense(FOLLOW_UP, HISTORY, model, "auto").method == "rules"
    assert condense(FOLLOW_UP, HISTORY, model, "off").text == FOLLOW_UP
    assert condense(FOLLOW_UP, [], model, "auto").method == "question"
    retriever = Searched()
    settings = LLMSettings(backend="extractive")
    answer = Answerer(retriever, model, settings).answer(Query(text=FOLLOW_UP), history=HISTORY)
    assert retriever.queries[0].text == f"{FOLLOW_UP} cars collection"
    assert answer.retrieval["method"] == "rules"


CITED = ("00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000001")


def test_the_previous_answers_citations_are_searched_as_candidates() -> None:
    history = [HISTORY[0], ChatMessage("assistant", "A red car [1].", cited=CITED)]
    retriever = Searched()
    answerer = Answerer(retriever, ExtractiveChatModel(), LLMSettings(condense="rules"))
    answer = answerer.answer(Query(text=FOLLOW_UP), history=history)
    assert retriever.queries[0].candidates == CITED
    assert answer.retrieval["candidates"] == list(CITED)


def test_only_the_last_answers_citations_are_candidates() -> None:
    history = [
        ChatMessage("user", "cars?"), ChatMessage("assistant", "A [1].", cited=CITED[:1]),
        ChatMessage("user", "trees?"), ChatMessage("assistant", "None found."),
    ]  # fmt: skip
    assert condense(FOLLOW_UP, history, None, "rules").candidates == ()


def test_with_condense_off_no_citation_is_a_candidate() -> None:
    history = [HISTORY[0], ChatMessage("assistant", "A red car [1].", cited=CITED)]
    assert condense(FOLLOW_UP, history, None, "off").candidates == ()

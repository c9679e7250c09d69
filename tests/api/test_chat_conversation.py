"""Retrieval that follows the conversation, through every chat route (``/v1/chat`` whole and
streamed as the web page asks, ``/v1/chat/completions``, ``/api/chat``), with the extractive
backend (``MMRAG_LLM__CONDENSE=auto`` is then the model-free rules): the follow-up "and the blue
one?" finds the blue car only with the earlier turn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from rag import identity as ids
from rag import payload as keys
from rag.services import Services
from rag.store.base import PointRecord
from tests.api.test_chat import parse_sse

TEXTS = {
    "red_car": "A red car waits at a station.",
    "blue_car": "A blue car drives along a coast road.",
    "whale": "A blue whale swims in blue water.",
    "umbrella": "A blue umbrella lies on a blue bench.",
}
FIRST = "Which cars are in the collection?"
FIRST_ANSWER = "A red car waits at the station [1]."
FOLLOW_UP = "and the blue one?"
LEXICAL = {"signals": ["lexical"], "top_k": 1}


def add_text(services: Services, text: str) -> str:
    """One text item with its text and lexical vectors."""
    digest = ids.content_hash(None, text)
    key = ids.item_key(None, digest)
    point_id = ids.point_id(services.store.collection, key)
    lexical = services.lexical_encoder
    assert lexical is not None
    vectors: dict[str, Any] = {
        "text": services.embedder.embed_texts([text])[0],
        "lexical": lexical.encode_documents([text])[0],
    }
    payload = {
        keys.TEXT: text, keys.SOURCE: "test", keys.ITEM_KEY: key, keys.CONTENT_HASH: digest,
        keys.HAS_IMAGE: False, keys.HAS_TEXT: True, keys.METADATA: {},
        keys.INGESTED_AT: "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    services.store.upsert([PointRecord(point_id, vectors, payload)])
    return point_id


def app_with(
    make_settings, data_dir: Path, condense: str
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    services = Services(
        make_settings(data_dir, llm={"backend": "extractive", "condense": condense})
    )
    items = {name: add_text(services, text) for name, text in TEXTS.items()}
    with TestClient(create_app(services=services)) as client:
        yield client, items
    services.close()


@pytest.fixture(scope="module")
def conversing(make_settings, tmp_path_factory: pytest.TempPathFactory):
    yield from app_with(make_settings, tmp_path_factory.mktemp("data"), "auto")


@pytest.fixture(scope="module")
def forgetting(make_settings, tmp_path_factory: pytest.TempPathFactory):
    yield from app_with(make_settings, tmp_path_factory.mktemp("data"), "off")


HISTORY = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": FIRST_ANSWER}]


def test_v1_chat_follow_up_retrieves_the_blue_car_with_the_conversation(conversing) -> None:
    client, items = conversing
    body = client.post("/v1/chat", json={"question": FOLLOW_UP, "history": HISTORY, **LEXICAL})
    answer = body.json()
    assert body.status_code == 200, answer
    assert answer["hits"][0]["id"] == items["blue_car"]
    assert answer["retrieval"]["method"] == "rules"
    assert (
        answer["retrieval"]["query"].startswith(FOLLOW_UP)
        and "cars" in answer["retrieval"]["query"]
    )
    assert "condense" in answer["timings"]


def test_v1_chat_without_history_searches_the_question_as_it_is(conversing) -> None:
    client, _ = conversing
    answer = client.post("/v1/chat", json={"question": FOLLOW_UP, **LEXICAL}).json()
    assert answer["retrieval"] == {
        "query": FOLLOW_UP,
        "method": "question",
        "fallback": None,
        "candidates": [],
    }


def test_the_web_pages_streamed_chat_follows_the_conversation(conversing) -> None:
    client, items = conversing
    body = {"question": FOLLOW_UP, "history": HISTORY, "stream": True, **LEXICAL}
    with client.stream("POST", "/v1/chat", json=body) as response:
        events = parse_sse(response.read().decode())
    retrieval = dict(events)["retrieval"]
    assert retrieval["hits"][0]["id"] == items["blue_car"]
    assert retrieval["query"]["method"] == "rules"
    assert dict(events)["final"]["retrieval"]["method"] == "rules"


def test_openai_chat_completions_follow_the_conversation(conversing) -> None:
    client, items = conversing
    messages = [*HISTORY, {"role": "user", "content": FOLLOW_UP}]
    body = {"model": "mmrag", "messages": messages, **LEXICAL}
    answer = client.post("/v1/chat/completions", json=body).json()
    assert answer["citations"][0]["id"] == items["blue_car"]
    assert answer["retrieval"]["method"] == "rules"
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        chunks = [
            json.loads(line.removeprefix("data: "))
            for line in response.read().decode().splitlines()
            if line.startswith("data: {")
        ]
    assert chunks[-1]["citations"][0]["id"] == items["blue_car"]
    assert chunks[-1]["retrieval"]["method"] == "rules"


def test_ollama_chat_follows_the_conversation(conversing) -> None:
    client, items = conversing
    messages = [*HISTORY, {"role": "user", "content": FOLLOW_UP}]
    body = {"model": "mmrag", "messages": messages, "stream": False, **LEXICAL}
    answer = client.post("/api/chat", json=body).json()
    assert answer["citations"][0]["id"] == items["blue_car"]
    assert answer["retrieval"]["method"] == "rules"


def test_with_condense_off_the_follow_up_misses_the_blue_car(forgetting) -> None:
    client, items = forgetting
    answer = client.post(
        "/v1/chat", json={"question": FOLLOW_UP, "history": HISTORY, **LEXICAL}
    ).json()
    assert answer["hits"][0]["id"] != items["blue_car"]
    assert answer["retrieval"] == {
        "query": FOLLOW_UP,
        "method": "off",
        "fallback": None,
        "candidates": [],
    }

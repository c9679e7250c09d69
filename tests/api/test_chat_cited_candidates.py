"""The items an earlier answer cited are candidates of the next turn's search, through the real
app: ``/v1/chat`` (the turn's ``citations``, as the web page sends them, and the MCP ``ask``
takes the same turns), ``/v1/chat/completions`` and ``/api/chat`` (the ids of the answer's
Sources block, as a chat client sends the message back).

The collection is made so that the cited blue car is outside the lexical list of the follow-up
(``prefetch_limit=2``: two items say "blue" twice) but second in the text list: only as a
candidate does it get its lexical rank too, and with it the first place.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from rag import identity as ids
from rag import payload as keys
from rag.condense import by_rules
from rag.services import Services
from rag.store.base import PointRecord

TEXTS = {
    "red_car": "A red car waits at a station.",
    "blue_car": "A blue car drives along a coast road.",
    "whale": "A blue whale swims in blue water.",
    "umbrella": "A blue umbrella lies on a blue bench.",
}
FIRST = "What can I look at here?"
FOLLOW_UP = "and the blue one?"
SEARCH = {"signals": ["lexical", "text"], "fusion": "rrf", "top_k": 1}


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def text_vectors(services: Services) -> dict[str, np.ndarray]:
    """Text vectors ranking red car, blue car, then the rest for the follow-up's query."""
    query = services.embedder.embed_texts([by_rules(FOLLOW_UP, [FIRST])])[0].astype(np.float64)
    rng = np.random.default_rng(0)
    noise = [rng.standard_normal(query.shape) for _ in TEXTS]
    away = [n - (n @ query) * query for n in noise]  # orthogonal to the query
    return {
        "red_car": unit(query),
        "blue_car": unit(query + 0.3 * unit(away[0])),
        "whale": unit(away[1]),
        "umbrella": unit(away[2]),
    }


def add_text(services: Services, text: str, vector: np.ndarray) -> str:
    digest = ids.content_hash(None, text)
    key = ids.item_key(None, digest)
    point_id = ids.point_id(services.store.collection, key)
    lexical = services.lexical_encoder
    assert lexical is not None
    vectors: dict[str, Any] = {"text": vector, "lexical": lexical.encode_documents([text])[0]}
    payload = {
        keys.TEXT: text, keys.SOURCE: "test", keys.ITEM_KEY: key, keys.CONTENT_HASH: digest,
        keys.HAS_IMAGE: False, keys.HAS_TEXT: True, keys.METADATA: {},
        keys.INGESTED_AT: "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    services.store.upsert([PointRecord(point_id, vectors, payload)])
    return point_id


@pytest.fixture(scope="module")
def app(
    make_settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    settings = make_settings(
        data_dir,
        llm={"backend": "extractive", "condense": "rules"},
        retrieval={"prefetch_limit": 2},
    )
    services = Services(settings)
    vectors = text_vectors(services)
    items = {name: add_text(services, text, vectors[name]) for name, text in TEXTS.items()}
    with TestClient(create_app(services=services)) as client:
        yield client, items
    services.close()


def history(items: dict[str, str], cited: bool) -> list[dict[str, Any]]:
    answer = {"role": "assistant", "content": "A blue car [1] and a red car [2]."}
    if cited:
        answer["citations"] = [items["blue_car"], items["red_car"]]
    return [{"role": "user", "content": FIRST}, answer]


def sources_message(items: dict[str, str]) -> dict[str, str]:
    """The previous answer as mmrag's OpenAI and Ollama routes end it (a Sources block)."""
    content = (
        "A blue car [1] and a red car [2].\n\n**Sources**\n"
        f"- [1] blue car\n  ![blue car](http://testserver/v1/items/{items['blue_car']}/image)\n"
        f"- [2] red car\n  ![red car](http://testserver/v1/items/{items['red_car']}/image)"
    )
    return {"role": "assistant", "content": content}


def test_v1_chat_ranks_the_cited_blue_car_first_as_a_candidate(app) -> None:
    client, items = app
    body = {"question": FOLLOW_UP, "history": history(items, cited=True), **SEARCH}
    answer = client.post("/v1/chat", json=body).json()
    assert answer["hits"][0]["id"] == items["blue_car"], answer
    assert answer["retrieval"]["candidates"] == [items["blue_car"], items["red_car"]]
    assert answer["retrieval"]["method"] == "rules"


def test_v1_chat_without_the_citations_ranks_the_blue_car_lower(app) -> None:
    client, items = app
    body = {"question": FOLLOW_UP, "history": history(items, cited=False), **SEARCH}
    answer = client.post("/v1/chat", json=body).json()
    assert answer["hits"][0]["id"] != items["blue_car"]
    assert answer["retrieval"]["candidates"] == []


def test_openai_chat_completions_take_the_sources_blocks_items_as_candidates(app) -> None:
    client, items = app
    messages = [
        {"role": "user", "content": FIRST}, sources_message(items),
        {"role": "user", "content": FOLLOW_UP},
    ]  # fmt: skip
    answer = client.post("/v1/chat/completions", json={"messages": messages, **SEARCH}).json()
    assert answer["citations"][0]["id"] == items["blue_car"], answer
    assert answer["retrieval"]["candidates"] == [items["blue_car"], items["red_car"]]


def test_ollama_chat_takes_the_sources_blocks_items_as_candidates(app) -> None:
    client, items = app
    messages = [
        {"role": "user", "content": FIRST}, sources_message(items),
        {"role": "user", "content": FOLLOW_UP},
    ]  # fmt: skip
    body = {"model": "mmrag", "messages": messages, "stream": False, **SEARCH}
    answer = client.post("/api/chat", json=body).json()
    assert answer["citations"][0]["id"] == items["blue_car"], answer
    assert answer["retrieval"]["candidates"] == [items["blue_car"], items["red_car"]]


def test_a_citation_that_is_not_an_item_id_is_a_422_that_names_it(app) -> None:
    client, _ = app
    turns = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "x", "citations": ["../etc"]},
    ]
    response = client.post("/v1/chat", json={"question": FOLLOW_UP, "history": turns})
    assert response.status_code == 422
    assert "citations" in response.text


def test_more_citations_than_the_cap_is_a_422(app) -> None:
    client, items = app
    many = [items["blue_car"]] * 33
    turns = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "x", "citations": many},
    ]
    response = client.post("/v1/chat", json={"question": FOLLOW_UP, "history": turns})
    assert response.status_code == 422


def test_an_unknown_cited_id_finds_nothing_more(app) -> None:
    client, items = app
    unknown = "00000000-0000-4000-8000-000000000000"
    turns = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "x", "citations": [unknown]},
    ]
    body = {"question": FOLLOW_UP, "history": turns, **{**SEARCH, "top_k": 10}}
    answer = client.post("/v1/chat", json=body).json()
    assert unknown not in {hit["id"] for hit in answer["hits"]}
    assert answer["hits"][0]["id"] != items["blue_car"]

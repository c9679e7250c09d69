"""``POST /v1/chat`` with the extractive model: answers, citations, and the SSE stream."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from rag.services import Services
from tests.api.conftest import add_item, png_bytes

GREEN = (10, 200, 10)


@pytest.fixture(scope="module")
def items(services: Services, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pictures")
    return {
        "fern": add_item(services, folder, "A fern grows in the shade of the old oak.", GREEN),
        "kettle": add_item(services, folder, "The kettle whistles when the water boils."),
    }


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """``(event, data)`` of each server-sent event."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines.get("event", "message"), json.loads(lines["data"])))
    return events


def test_answer_cites_the_item(client: TestClient, items) -> None:
    body = {"question": "The kettle whistles when the water boils.", "fusion": "weighted"}
    response = client.post("/v1/chat", json=body)
    answer = response.json()
    assert response.status_code == 200, answer
    assert answer["model"] == "extractive"
    assert answer["answer"]
    assert answer["citations"][0]["id"] == items["kettle"]
    assert answer["citations"][0]["image_url"] is None
    assert answer["hits"][0]["id"] == items["kettle"]


def test_picture_alone_is_the_query(client: TestClient, items) -> None:
    image = base64.b64encode(png_bytes(GREEN)).decode()
    body = {"image": image, "fusion": "weighted", "weights": {"image": 1.0}}
    answer = client.post("/v1/chat", json=body).json()
    assert answer["citations"][0]["id"] == items["fern"]
    assert answer["citations"][0]["image_url"] == f"/v1/items/{items['fern']}/image"


def test_stream_is_tokens_then_final(client: TestClient, items) -> None:
    body = {"question": "A fern grows in the shade", "stream": True, "history": []}
    with client.stream("POST", "/v1/chat", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "retrieval"
    assert names[-1] == "final"
    assert set(names[1:-1]) == {"token"}
    text = "".join(data["text"] for name, data in events if name == "token")
    final = events[-1][1]
    assert final["answer"] == text
    assert final["citations"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"question": "   "}, 400),
        ({"question": "x" * 4001}, 400),
        ({"question": "x", "image": "%%%"}, 400),
        ({"question": "x", "history": [{"role": "wizard", "content": "hi"}]}, 422),
        ({"question": "x", "max_tokens": 0}, 422),
        ({"question": "x", "stream": True, "top_k": 100_000}, 400),
        ({"question": "x", "signals": ["colour"]}, 422),
        ({"question": "x", "signals": []}, 400),
        ({"question": "x", "stream": True, "weights": {"image": 0, "text": 0}}, 400),
    ],
)
def test_bad_questions(client: TestClient, items, body: dict, status: int) -> None:
    response = client.post("/v1/chat", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) >= {"error", "message"}


def test_retrieval_options_reach_the_search(client: TestClient, items) -> None:
    body = {"question": "What grows in the shade?", "signals": ["text"], "fusion": "weighted"}
    hits = client.post("/v1/chat", json=body).json()["hits"]
    assert hits and all(hit["scores"]["image"] is None for hit in hits)
    assert all(hit["scores"]["fused"] == pytest.approx(hit["scores"]["text"]) for hit in hits)

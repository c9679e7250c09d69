"""The passage signal served by Ollama (the wire-format fake): a search while the server is down
or busy is a 503 with ``Retry-After`` that names what to fix, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from rag.services import Services
from tests.fakes.ollama_server import FakeOllama


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["bge-m3"], retry_after="7") as server:
        yield server


@pytest.fixture
def client(make_settings, tmp_path, ollama: FakeOllama) -> Iterator[TestClient]:
    passage = {"backend": "ollama", "base_url": ollama.url, "model": "bge-m3", "retries": 0}
    services = Services(make_settings(tmp_path / "data", passage=passage))
    with TestClient(create_app(services=services)) as test_client:
        yield test_client
    services.close()


def search(client: TestClient):
    return client.post("/v1/search", json={"text": "the pump needs 230 volts"})


def test_search_uses_the_served_passage_vectors(client: TestClient, ollama: FakeOllama) -> None:
    response = search(client)
    assert response.status_code == 200, response.text
    assert ollama.requests[-1] == (
        "/api/embed",
        {"model": "bge-m3", "input": ["the pump needs 230 volts"], "truncate": True},
    )


def test_server_down_is_503_with_retry_after(client: TestClient, ollama: FakeOllama) -> None:
    assert search(client).status_code == 200  # the collection was made while it was up
    ollama.stop()
    response = search(client)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["error"] == "embedding_unavailable"
    assert "MMRAG_PASSAGE__BASE_URL" in body["message"]


def test_server_busy_is_503_with_its_retry_after(client: TestClient, ollama: FakeOllama) -> None:
    assert search(client).status_code == 200
    ollama.mode = "busy"
    response = search(client)
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert response.json()["error"] == "embedding_busy"

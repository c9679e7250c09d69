"""The ``ollama`` Python client against mmrag's ``/api/chat``, ``/api/tags``, ``/api/show``,
``/api/version`` and ``/api/embed``, over a real socket."""

from __future__ import annotations

import base64
import json

import ollama
import pytest
from fastapi.testclient import TestClient

from rag.services import Services
from tests.api.conftest import add_item, png_bytes

CYAN = (0, 220, 220)


@pytest.fixture(scope="module")
def items(services: Services, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pictures")
    return {
        "pool": add_item(services, folder, "A cyan swimming pool in the garden.", CYAN),
        "clock": add_item(services, folder, "The hall clock strikes twelve at noon."),
    }


@pytest.fixture(scope="module")
def client_ollama(live_url: str) -> ollama.Client:
    return ollama.Client(host=live_url, timeout=60)


def test_tags_lists_mmrag(client_ollama: ollama.Client) -> None:
    models = client_ollama.list().models
    assert [m.model for m in models] == ["mmrag:latest"]
    assert models[0].details.family == "mmrag"


def test_show_and_version(client_ollama: ollama.Client, client: TestClient) -> None:
    shown = client_ollama.show("mmrag")
    assert "vision" in shown.capabilities
    assert client.get("/api/version").json()["version"]


def test_chat_cites_the_item(client_ollama: ollama.Client, items) -> None:
    response = client_ollama.chat(
        model="mmrag",
        messages=[{"role": "user", "content": "The hall clock strikes twelve at noon."}],
        stream=False,
    )
    assert response.done
    assert "hall clock strikes twelve" in response.message.content


def test_citations_are_an_extra_field(client: TestClient, items) -> None:
    question = "The hall clock strikes twelve at noon."
    messages = [{"role": "user", "content": question}]
    body = {"model": "mmrag", "messages": messages, "fusion": "weighted"}
    whole = client.post("/api/chat", json={**body, "stream": False}).json()
    assert whole["citations"][0]["id"] == items["clock"]
    with client.stream("POST", "/api/chat", json=body) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[-1]["done"] is True
    assert lines[-1]["citations"][0]["id"] == items["clock"]


def test_streamed_chat_ends_with_done_and_citations(client_ollama: ollama.Client, items) -> None:
    parts = list(
        client_ollama.chat(
            model="mmrag:latest",
            messages=[
                {"role": "system", "content": "ignored"},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "A cyan swimming pool in the garden."},
            ],
            stream=True,
        )
    )
    assert all(not part.done for part in parts[:-1])
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert "cyan swimming pool" in "".join(part.message.content or "" for part in parts)


def test_images_are_the_image_query(client_ollama: ollama.Client, items) -> None:
    response = client_ollama.chat(
        model="mmrag",
        messages=[{"role": "user", "content": "What is this?", "images": [png_bytes(CYAN)]}],
        stream=False,
        options={"num_predict": 64},
    )
    assert "cyan swimming pool" in response.message.content


def test_embed(client_ollama: ollama.Client) -> None:
    result = client_ollama.embed(model="mmrag", input=["a", "b"])
    assert len(result.embeddings) == 2


def test_bad_image_is_a_response_error(client_ollama: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client_ollama.chat(
            model="mmrag",
            messages=[{"role": "user", "content": "x", "images": [base64.b64encode(b"no")]}],
            stream=False,
        )
    assert caught.value.status_code == 400


def test_last_message_must_be_the_users(client: TestClient) -> None:
    body = {"model": "mmrag", "messages": [{"role": "assistant", "content": "hi"}]}
    response = client.post("/api/chat", json=body)
    assert response.status_code == 400
    assert "last message" in response.json()["message"]

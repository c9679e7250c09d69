"""Request bodies are bounded and strict before work is spent on them: nested metadata has a
depth and size limit (4xx naming it, never a queued job that breaks later), and a misspelled
field is a 422 that names it. The OpenAI- and Ollama-compatible routes accept the optional
fields their real clients send."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from rag.errors import InvalidInputError
from rag.metadata import MAX_METADATA_BYTES, MAX_METADATA_DEPTH, check_metadata, parse_metadata


def _nested(depth: int) -> dict:
    """``{"a": [[...]]}``: an object holding ``depth - 1`` levels of lists."""
    return {"a": json.loads("[" * (depth - 1) + "]" * (depth - 1))}


# --- Nested metadata -------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_METADATA_DEPTH + 1, 150, 190])
def test_deeply_nested_json_metadata_is_a_422_naming_the_limit(
    client: TestClient, depth: int
) -> None:
    body = {"items": [{"text": "deep", "metadata": _nested(depth)}]}
    response = client.post("/v1/ingest", json=body)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert "items.0.metadata" in message and f"{MAX_METADATA_DEPTH} levels" in message


def test_json_nested_past_the_parser_limit_is_a_422(client: TestClient) -> None:
    body = '{"items": [{"text": "deep", "metadata": {"a": ' + "[" * 5000 + "]" * 5000 + "}}]}"
    response = client.post("/v1/ingest", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "recursion limit" in response.json()["message"]


@pytest.mark.parametrize("depth", [MAX_METADATA_DEPTH + 1, 199, 5000])
def test_deeply_nested_form_metadata_is_a_400_naming_the_limit(
    client: TestClient, depth: int
) -> None:
    metadata = '{"a": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/v1/ingest", data={"texts": "deep", "metadata": metadata})
    assert response.status_code == 400, response.text
    assert f"{MAX_METADATA_DEPTH} levels" in response.json()["message"]
    assert client.get("/v1/ingest").status_code == 200  # every job can still be read back


def test_metadata_larger_than_the_limit_is_refused(client: TestClient) -> None:
    big = {"notes": "x" * MAX_METADATA_BYTES}
    response = client.post("/v1/ingest", json={"items": [{"text": "big", "metadata": big}]})
    assert response.status_code == 422
    assert str(MAX_METADATA_BYTES) in response.json()["message"]
    form = client.post("/v1/ingest", data={"texts": "big", "metadata": json.dumps(big)})
    assert form.status_code == 400
    assert str(MAX_METADATA_BYTES) in form.json()["message"]


def test_metadata_at_the_limits_is_accepted() -> None:
    deepest = _nested(MAX_METADATA_DEPTH)
    assert check_metadata(deepest) is deepest
    assert parse_metadata(json.dumps(deepest)) == deepest
    with pytest.raises(InvalidInputError, match="levels"):
        check_metadata(_nested(MAX_METADATA_DEPTH + 1))
    with pytest.raises(InvalidInputError, match="JSON object"):
        parse_metadata("[1]")


# --- Unknown fields --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/search", {"text": "cat", "topk": 3}, "body.topk"),
        ("/v1/chat", {"question": "cat?", "histroy": []}, "body.histroy"),
        ("/v1/embed/text", {"texts": ["a"], "normalise": True}, "body.normalise"),
        ("/v1/ingest", {"items": [{"text": "a", "meta": {}}]}, "body.items.0.meta"),
        ("/v1/ingest", {"items": [{"text": "a"}], "polcy": "skip"}, "body.polcy"),
        ("/v1/classify", {"image": "", "labels": ["cat"], "template": []}, "body.template"),
        ("/v1/moderate", {"image": "", "threshold": 0.9}, "body.threshold"),
    ],
)
def test_a_misspelled_field_is_a_422_naming_it(
    client: TestClient, path: str, body: dict, field: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert f"{field}: unknown field" in message


def test_openai_clients_optional_fields_are_accepted(client: TestClient) -> None:
    body = {  # fields the OpenAI SDK, LangChain and Open WebUI send
        "model": "mmrag",
        "messages": [
            {"role": "system", "content": "Be brief.", "name": "ops"},
            {"role": "user", "content": [{"type": "text", "text": "cat?"}]},
        ],
        "n": 1,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 7,
        "user": "u-1",
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "logit_bias": {},
        "response_format": {"type": "text"},
        "stream_options": {"include_usage": True},
        "parallel_tool_calls": False,
        "metadata": {"chat_id": "x"},
    }
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    embeddings = {"input": "cat", "model": "mmrag", "user": "u-1"}
    assert client.post("/v1/embeddings", json=embeddings).status_code == 200


def test_ollama_clients_optional_fields_are_accepted(client: TestClient) -> None:
    body = {
        "model": "mmrag:latest",
        "messages": [{"role": "user", "content": "cat?", "thinking": ""}],
        "stream": False,
        "format": "",
        "keep_alive": "5m",
        "think": False,
        "options": {"num_ctx": 2048, "top_k": 40, "top_p": 0.9, "seed": 1, "num_predict": 16},
    }
    assert client.post("/api/chat", json=body).status_code == 200
    embed = {"model": "mmrag:latest", "input": ["cat"], "truncate": True, "keep_alive": "5m"}
    assert client.post("/api/embed", json=embed).status_code == 200

"""The ``openai`` Python client against mmrag's ``/v1/models``, ``/v1/chat/completions`` and
``/v1/embeddings``, over a real socket."""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient

from rag.services import Services
from tests.api.conftest import add_item, png_bytes

ORANGE = (250, 140, 0)


@pytest.fixture(scope="module")
def items(services: Services, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pictures")
    return {
        "fox": add_item(services, folder, "An orange fox sleeps under the hedge.", ORANGE),
        "train": add_item(services, folder, "The night train leaves at nine."),
    }


@pytest.fixture(scope="module")
def oai(live_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_url + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_models_lists_mmrag(oai: openai.OpenAI) -> None:
    assert [model.id for model in oai.models.list()] == ["mmrag"]


def test_completion_cites_the_item(oai: openai.OpenAI, items) -> None:
    completion = oai.chat.completions.create(
        model="mmrag",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "The night train leaves at nine."},
        ],
        extra_body={"fusion": "weighted"},
    )
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    citations = completion.model_extra["citations"]
    assert citations[0]["id"] == items["train"]


def test_streamed_completion_ends_with_citations(oai: openai.OpenAI, items) -> None:
    stream = oai.chat.completions.create(
        model="mmrag",
        messages=[{"role": "user", "content": "An orange fox sleeps under the hedge."}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"]


def test_image_url_part_is_the_image_query(oai: openai.OpenAI, items) -> None:
    url = "data:image/png;base64," + base64.b64encode(png_bytes(ORANGE)).decode()
    completion = oai.chat.completions.create(
        model="mmrag",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
        extra_body={"fusion": "weighted", "weights": {"image": 1.0}},
    )
    assert completion.model_extra["citations"][0]["id"] == items["fox"]


def test_remote_image_url_is_refused(oai: openai.OpenAI) -> None:
    part = {"type": "image_url", "image_url": {"url": "http://example.org/cat.png"}}
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="mmrag", messages=[{"role": "user", "content": [part]}])
    assert "data: URL" in caught.value.response.json()["message"]


@pytest.mark.parametrize("texts", ["a red square", ["a red square", "a dog"]])
def test_embeddings_match_embed_text(oai: openai.OpenAI, client: TestClient, texts) -> None:
    result = oai.embeddings.create(model="mmrag", input=texts)  # the client asks for base64
    listed = [texts] if isinstance(texts, str) else texts
    direct = client.post("/v1/embed/text", json={"texts": listed}).json()["embeddings"]
    got = np.array([item.embedding for item in result.data])
    assert np.allclose(got, np.array(direct), atol=1e-6)
    assert result.usage.total_tokens > 0


def test_embeddings_as_floats(client: TestClient) -> None:
    body = {"input": ["x"], "encoding_format": "float"}
    data = client.post("/v1/embeddings", json=body).json()["data"]
    assert isinstance(data[0]["embedding"], list)


@pytest.mark.parametrize(
    "body", [{"input": []}, {"input": [[1, 2, 3]]}, {"input": "x", "dimensions": 7}]
)
def test_bad_embeddings(client: TestClient, body: dict) -> None:
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code in (400, 422), response.text
    assert response.json()["message"]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "assistant", "content": "hi"}],
        [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
        [{"role": "user", "content": ""}],
    ],
)
def test_bad_completions(client: TestClient, messages: list) -> None:
    response = client.post("/v1/chat/completions", json={"model": "m", "messages": messages})
    assert response.status_code == 400, response.text

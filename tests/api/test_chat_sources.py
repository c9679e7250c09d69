"""Chat responses show their evidence: a Markdown Sources block ends the message of
``/api/chat`` and ``/v1/chat/completions`` (on by default, streamed after the answer), and every
answer says which backend and model wrote it, with the backend's own token counts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.health import llm_info
from rag.services import Services
from tests.api.conftest import add_item
from tests.fakes.ollama_server import FakeOllama

TEXT = "The lighthouse keeper rows to the island at dawn."
DOCUMENT = {"document": {"id": "d1", "title": "Harbour guide", "pages": 5}, "page": 3}


@pytest.fixture(scope="module")
def keeper(services: Services, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("sources")
    return add_item(services, folder, TEXT, (10, 20, 200), {"title": "Keeper [old]"}, DOCUMENT)


def expected_sources(item_id: str) -> str:
    return (
        "\n\n**Sources**\n"
        "- [1] Keeper \\[old\\] — [Harbour guide, page 3](http://testserver/v1/documents/d1/file)\n"
        f"  ![Keeper \\[old\\]](http://testserver/v1/items/{item_id}/image)"
    )


def ollama_body(**extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": TEXT}], "top_k": 1, **extra}


def test_ollama_chat_ends_with_the_sources_block(client: TestClient, keeper: str) -> None:
    out = client.post("/api/chat", json=ollama_body(stream=False)).json()
    content = out["message"]["content"]
    assert content.startswith(f'"{TEXT}" [1]')
    assert content.endswith(expected_sources(keeper))
    assert out["citations"][0]["id"] == keeper  # the structured citations stay
    assert out["generation"]["backend"] == "extractive" and not out["generation"]["fallback"]


def test_streamed_ollama_chat_sends_the_sources_after_the_answer(
    client: TestClient, keeper: str
) -> None:
    lines = [json.loads(line) for line in client.post("/api/chat", json=ollama_body()).iter_lines()]
    pieces = [line["message"]["content"] for line in lines if not line["done"]]
    assert pieces[-1] == expected_sources(keeper)
    assert "".join(pieces).startswith(f'"{TEXT}" [1]')
    assert lines[-1]["done"] and lines[-1]["citations"][0]["id"] == keeper


def test_openai_completion_ends_with_sources_unless_turned_off(
    client: TestClient, keeper: str
) -> None:
    body = {"messages": [{"role": "user", "content": TEXT}], "top_k": 1}
    out = client.post("/v1/chat/completions", json=body).json()
    assert out["choices"][0]["message"]["content"].endswith(expected_sources(keeper))
    plain = client.post("/v1/chat/completions", json={**body, "sources": False}).json()
    assert plain["choices"][0]["message"]["content"] == f'"{TEXT}" [1]'
    assert plain["generation"]["backend"] == "extractive"


def test_streamed_openai_completion_sends_sources_then_the_final_chunk(
    client: TestClient, keeper: str
) -> None:
    body = {"messages": [{"role": "user", "content": TEXT}], "top_k": 1, "stream": True}
    events = client.post("/v1/chat/completions", json=body).text.strip().split("\n\n")
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert chunks[-2]["choices"][0]["delta"]["content"] == expected_sources(keeper)
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["citations"][0]["id"] == keeper
    assert final["usage"]["total_tokens"] > 0 and final["generation"]["backend"] == "extractive"


def test_v1_chat_keeps_its_structured_answer(client: TestClient, keeper: str) -> None:
    out = client.post("/v1/chat", json={"question": TEXT, "top_k": 1}).json()
    assert out["answer"] == f'"{TEXT}" [1]'
    assert out["generation"]["model"] == "extractive"


@pytest.fixture
def ollama_client(make_settings, tmp_path) -> Iterator[tuple[TestClient, FakeOllama]]:
    with FakeOllama(reply="The keeper rows at dawn [1].") as server:
        llm = {"backend": "ollama", "ollama_host": server.url}
        app = create_app(make_settings(tmp_path / "data", llm=llm))
        with TestClient(app) as client:
            yield client, server


def test_usage_is_the_backends_own_count(ollama_client, tmp_path) -> None:
    client, _server = ollama_client
    services: Services = client.app.state.services
    add_item(services, tmp_path, TEXT)
    body = {"messages": [{"role": "user", "content": TEXT}], "stream": False}
    ollama_out = client.post("/api/chat", json=body).json()
    assert (ollama_out["prompt_eval_count"], ollama_out["eval_count"]) == (
        26,
        6,
    )  # the fake counts its pieces
    openai_out = client.post("/v1/chat/completions", json=body).json()
    assert openai_out["usage"] == {"prompt_tokens": 26, "completion_tokens": 6, "total_tokens": 32}
    generation = openai_out["generation"]
    assert (generation["backend"], generation["model"]) == ("ollama", "llama3.2")
    assert client.get("/ready").json()["components"]["llm"]["detail"] == "ollama: llama3.2"
    assert llm_info(services)["backend"] == "ollama"


def test_the_sources_block_links_a_pdf_citation_at_its_page() -> None:
    from api.sources import sources_block
    from rag.answer import Answer, Citation
    from rag.retrieval.types import Hit, Scores

    payload = {
        "source": "docs/manual.pdf",
        "document": {"id": "d 7", "title": "Pump manual", "source": "docs/manual.pdf"},
        "page": 4,
    }
    scores = Scores(image=None, text=None, fused=1.0)
    hit = Hit("p1", payload, scores)
    answer = Answer(
        "It needs 230 volts [1].", [Citation(1, "p1", "x", "", scores, False)], "m", [hit]
    )
    block = sources_block(answer, "https://rag.example/")
    assert block.endswith(
        "- [1] manual.pdf — [Pump manual, page 4](https://rag.example/v1/documents/d%207/file#page=4)"
    )

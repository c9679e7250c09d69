"""LLM failures keep their meaning over HTTP: 503 (+ Retry-After when busy), 504 on a timeout,
and a last error event when a stream breaks midway; random bodies never give a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import LLMBusyError, LLMTimeoutError, LLMUnavailableError, MmragError
from rag.llm.base import BackendInfo, ChatMessage, GenerationOptions, GenerationReport
from rag.services import Services
from tests.api.conftest import add_item


class BrokenModel:
    """A chat model that fails with ``error``, after ``pieces`` when streaming."""

    def __init__(self, error: MmragError, pieces: Sequence[str] = ()) -> None:
        self.error = error
        self.pieces = pieces

    @property
    def model_name(self) -> str:
        return "broken"

    @property
    def backend(self) -> str:
        return "broken"

    def info(self) -> BackendInfo:
        return BackendInfo("broken", "broken")

    def accepts_images(self) -> bool:
        return False

    def warm_up(self) -> None:
        pass

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> str:
        raise self.error

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> Iterator[str]:
        yield from self.pieces
        raise self.error

    def check(self) -> None:
        raise self.error


@pytest.fixture(scope="module", autouse=True)
def item(services: Services, tmp_path_factory: pytest.TempPathFactory) -> str:
    return add_item(services, tmp_path_factory.mktemp("p"), "The lighthouse keeper feeds the cat.")


@pytest.fixture
def use_model(services: Services) -> Iterator:
    """``use_model(model)``: answer with ``model`` for this test."""
    saved = {key: services.__dict__.pop(key, None) for key in ("chat_model", "answerer")}

    def use(model: BrokenModel) -> None:
        services.__dict__.pop("answerer", None)
        services.__dict__["chat_model"] = model

    yield use
    for key, value in saved.items():
        services.__dict__.pop(key, None)
        if value is not None:
            services.__dict__[key] = value


QUESTION = {"question": "Who feeds the cat?"}
OPENAI = {"model": "m", "messages": [{"role": "user", "content": "Who feeds the cat?"}]}
OLLAMA = {**OPENAI, "stream": False}


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/chat", QUESTION), ("/v1/chat/completions", OPENAI), ("/api/chat", OLLAMA)],
)
@pytest.mark.parametrize(
    ("error", "status"),
    [
        (LLMUnavailableError("Ollama is down"), 503),
        (LLMBusyError("too many requests", retry_after=7.2), 503),
        (LLMTimeoutError("no answer in 120 s"), 504),
    ],
)
def test_llm_errors_map_to_status(
    client: TestClient, use_model, path: str, body: dict, error: MmragError, status: int
) -> None:
    use_model(BrokenModel(error))
    response = client.post(path, json=body)
    assert response.status_code == status
    assert response.json() == {"error": error.code, "message": str(error)}
    if isinstance(error, LLMBusyError):
        assert response.headers["retry-after"] == "8"


def test_error_before_first_token_is_a_status_even_streaming(client: TestClient, use_model) -> None:
    use_model(BrokenModel(LLMUnavailableError("down")))
    response = client.post("/v1/chat", json={**QUESTION, "stream": True})
    assert response.status_code == 503


def test_ready_reports_the_llm(client: TestClient, use_model) -> None:
    use_model(BrokenModel(LLMUnavailableError("Ollama is down")))
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["components"]["llm"] == {"status": "error", "detail": "Ollama is down"}


def test_stream_breaking_midway_ends_with_an_error_event(client: TestClient, use_model) -> None:
    use_model(BrokenModel(LLMTimeoutError("stalled"), pieces=["The keeper ", "feeds"]))
    sse = client.post("/v1/chat", json={**QUESTION, "stream": True}).text
    assert sse.rstrip().endswith('data: {"error": "llm_timeout", "message": "stalled"}')
    assert "event: error" in sse
    chunks = client.post("/v1/chat/completions", json={**OPENAI, "stream": True}).text
    last = json.loads(chunks.strip().split("\n\n")[-1].removeprefix("data: "))
    assert last == {"error": {"message": "stalled", "type": "llm_timeout", "code": "llm_timeout"}}
    lines = client.post("/api/chat", json={**OLLAMA, "stream": True}).text.splitlines()
    assert json.loads(lines[-1]) == {"error": "stalled"}
    # the trailing space waits for the next piece (it may precede a citation marker)
    assert json.loads(lines[0])["message"]["content"] == "The keeper"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
POSTS = [
    "/v1/search",
    "/v1/chat",
    "/v1/chat/completions",
    "/api/chat",
    "/v1/ingest",
    "/v1/embed/text",
    "/v1/embeddings",
    "/api/embed",
    "/api/show",
]
FIELDS = ["text", "image", "question", "fusion", "weights", "filter", "top_k", "rerank", "stream"]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(POSTS),
    body=st.dictionaries(
        st.sampled_from([*FIELDS, "messages", "items", "input", "texts"]), JSON, max_size=4
    )
    | JSON,
)
def test_random_bodies_never_give_500(client: TestClient, path: str, body: object) -> None:
    response = client.post(path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) >= {"error", "message"}


@pytest.mark.parametrize(
    "raw", [b'{"text": "x", "weights": {"image": Infinity}}', b'{"text": NaN}', b"[1, 2]", b"null"]
)
def test_odd_json_is_a_client_error(client: TestClient, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    response = client.post("/v1/search", content=raw, headers=headers)
    assert 400 <= response.status_code < 500, response.text

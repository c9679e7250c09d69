"""A chat server that is down, slow, busy (503) or cuts its stream: chat routes answer 503/504
(or end their stream with an error event) in bounded time, and search is unaffected.

Runs, with the same assertions, for every backend that talks to an LLM server
(:data:`SERVER_BACKENDS`): ``ollama`` against :mod:`tests.fakes.ollama_server` and ``openai``
against :mod:`tests.fakes.openai_server`, both fakes speaking their server's wire format with the
same modes (``slow``, ``busy``, ``cut``, ``stream_error``); "down" is a port with nothing
listening. Another backend: add ``name: (fake server factory, settings builder)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from rag.config import Settings
from tests.api.conftest import add_item
from tests.fakes.ollama_server import FakeOllama, unused_port_url
from tests.fakes.openai_server import FakeOpenAI

READ_TIMEOUT_S = 0.5
SLOW_S = 1.5
"""A ``slow`` fake server sleeps this long, past the read timeout, before it answers."""
BOUND_S = 10.0
"""Every answer, error or not, comes within this."""
QUESTION = "Who feeds the cat?"
CHATS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat", {"question": QUESTION}),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}),
    ("/api/chat", {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}),
]


def _ollama_settings(url: str) -> dict[str, Any]:
    return {
        "backend": "ollama",
        "ollama_host": url,
        "model": "llama3.2",
        "connect_timeout_s": 1.0,
        "read_timeout_s": READ_TIMEOUT_S,
    }


def _openai_settings(url: str) -> dict[str, Any]:
    return {
        "backend": "openai",
        "base_url": url,
        "model": "m",
        "connect_timeout_s": 1.0,
        "read_timeout_s": READ_TIMEOUT_S,
    }


SERVER_BACKENDS: dict[str, tuple[Callable[[], Any], Callable[[str], dict[str, Any]]]] = {
    "ollama": (lambda: FakeOllama(models=["llama3.2:latest"], slow_s=SLOW_S), _ollama_settings),
    "openai": (lambda: FakeOpenAI(slow_s=SLOW_S), _openai_settings),
}
"""Backend name -> (a fake server with ``mode`` and ``url``, the ``llm`` settings for a URL)."""


@pytest.fixture(scope="module", params=sorted(SERVER_BACKENDS))
def backend(request: pytest.FixtureRequest, make_settings, tmp_path_factory) -> Iterator[tuple]:
    make_fake, llm_settings = SERVER_BACKENDS[request.param]
    with make_fake() as fake:
        settings: Settings = make_settings(
            tmp_path_factory.mktemp("data"), llm=llm_settings(fake.url)
        )
        with TestClient(create_app(settings)) as client:
            services = client.app.state.services  # type: ignore[attr-defined]
            add_item(services, tmp_path_factory.mktemp("p"), "The lighthouse keeper feeds the cat.")
            yield client, fake


def _streamed_error(text: str) -> bool:
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return "error" in last


def _ask(
    client: TestClient, path: str, body: dict[str, Any], stream: bool
) -> tuple[int, str, float]:
    started = time.monotonic()
    response = client.post(path, json={**body, "stream": stream})
    return response.status_code, response.text, time.monotonic() - started


def _search_works(client: TestClient) -> None:
    started = time.monotonic()
    response = client.post("/v1/search", json={"text": "cat"})
    assert response.status_code == 200 and response.json()["hits"]
    assert time.monotonic() - started < BOUND_S


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["slow", "busy", "cut", "stream_error"])
def test_a_failing_server_gives_503_or_504_in_bounded_time(backend: tuple, mode: str) -> None:
    client, fake = backend
    fake.mode = mode
    try:
        for path, body in CHATS:
            for stream in (False, True):
                status, text, took = _ask(client, path, body, stream)
                assert took < BOUND_S, (mode, path, stream, took)
                if status == 200:  # a stream that had begun: it must end with an error
                    assert stream and _streamed_error(text), (mode, path, text[-300:])
                else:
                    assert status in (503, 504), (mode, path, stream, status, text)
                    assert json.loads(text).get("error"), text
            _search_works(client)
    finally:
        fake.mode = "normal"


@pytest.mark.slow
def test_a_server_that_is_down_gives_503_and_search_still_works(make_settings, tmp_path) -> None:
    for name, (_, llm_settings) in SERVER_BACKENDS.items():
        settings = make_settings(tmp_path / name, llm=llm_settings(unused_port_url()))
        with TestClient(create_app(settings)) as client:
            add_item(client.app.state.services, tmp_path, "The lighthouse keeper feeds the cat.")  # type: ignore[attr-defined]
            assert client.get("/ready").status_code == 503
            for path, body in CHATS:
                status, text, took = _ask(client, path, body, stream=False)
                assert status == 503 and took < BOUND_S, (name, path, status, text)
            _search_works(client)


def test_the_fake_server_answers_normally(backend: tuple) -> None:
    client, fake = backend
    fake.mode = "normal"
    status, text, _ = _ask(client, "/v1/chat", {"question": QUESTION}, stream=False)
    assert status == 200, text
    assert json.loads(text)["answer"].startswith("The answer is in the context"), text

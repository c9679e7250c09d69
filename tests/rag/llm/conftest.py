"""A fake Ollama server per test (real HTTP on loopback, Ollama's wire format)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.ollama_server import FakeOllama


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["llama3.2:latest"], reply="Paris is the capital [1].") as server:
        yield server

"""``auto`` never downgrades silently: a fallback says so, the preferred backend is probed again
and takes over when it answers, and a preferred backend that fails hands the answer on."""

from __future__ import annotations

import sys
import time

import pytest

from rag.config import LLMSettings
from rag.llm import GenerationOptions, build_chat_model
from rag.llm.auto import AutoChatModel
from rag.llm.base import GenerationReport
from rag.prompting import build_context, build_messages
from rag.retrieval.types import Hit, Scores
from rag.testing.llama_cpp_server import LlamaCppServer
from tests.fakes.ollama_server import FakeOllama

HITS = [Hit("a", {"text": "The ferry leaves at dawn."}, Scores(None, 0.9, 1.0))]
MESSAGES = build_messages("When does the ferry leave?", build_context(HITS, 512))
OPTIONS = GenerationOptions(max_tokens=8, temperature=0.0)


@pytest.fixture(autouse=True)
def no_llamacpp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fallbacks go straight to extractive (fast)."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


def auto(**kwargs: object) -> AutoChatModel:
    settings = LLMSettings(backend="auto", connect_timeout_s=0.5, **kwargs)  # type: ignore[arg-type]
    model = build_chat_model(settings)
    assert isinstance(model, AutoChatModel)
    return model


def answer(model: AutoChatModel) -> tuple[str, GenerationReport]:
    report = GenerationReport()
    return "".join(model.stream(MESSAGES, OPTIONS, report)), report


def test_fallback_answers_say_so_until_the_preferred_backend_comes_back() -> None:
    with FakeOllama(models=["other:latest"], reply="At dawn [1].") as server:
        model = auto(ollama_host=server.url, reprobe_s=60)
        assert model.backend == "extractive"
        info = model.info()
        assert info.fallback and info.preferred == "ollama" and "ollama pull" in info.detail
        _, report = answer(model)
        assert (report.backend, report.fallback_from) == ("extractive", "ollama")

        assert not model.reprobe()  # still without the model
        server.models.append("llama3.2:latest")
        assert model.reprobe()
        text, report = answer(model)
    assert text == "At dawn [1]."
    assert (report.backend, report.fallback_from, report.prompt_tokens) == ("ollama", None, 26)
    assert not model.info().fallback


def test_reprobe_runs_on_schedule_in_the_background() -> None:
    with FakeOllama(models=[], reply="At dawn [1].") as server:
        model = auto(ollama_host=server.url, reprobe_s=0.2)
        assert model.backend == "extractive"
        server.models.append("llama3.2:latest")
        time.sleep(0.3)
        assert model.backend == "extractive"  # this call starts the probe, it does not wait
        model.wait_for_probe(5)
        assert model.backend == "ollama"


def test_preferred_backend_that_fails_hands_the_answer_on() -> None:
    with FakeOllama(reply="At dawn [1].") as server:
        model = auto(ollama_host=server.url, reprobe_s=60)
        assert model.backend == "ollama"
        server.models.clear()  # the model is gone: /api/chat answers 404
        text, report = answer(model)
        assert (report.backend, report.fallback_from) == ("extractive", "ollama")
        assert text == '"The ferry leaves at dawn." [1]'
        assert model.info().fallback


def test_busy_preferred_backend_stays_and_says_busy() -> None:
    from rag.errors import LLMBusyError

    with FakeOllama(reply="At dawn [1].", mode="busy") as server:
        model = auto(ollama_host=server.url)
        with pytest.raises(LLMBusyError):
            answer(model)
        assert model.backend == "ollama"


@pytest.mark.llm
def test_auto_prefers_the_openai_compatible_server(llama_server: LlamaCppServer) -> None:
    model = auto(base_url=llama_server.url, model=llama_server.model)
    assert model.backend == "openai" and model.model_name == "smollm2"
    assert [c.name for c in model._candidates] == ["openai", "extractive"]
    down = auto(base_url="http://127.0.0.1:9/v1")
    assert down.backend == "extractive" and down.info().preferred == "openai"

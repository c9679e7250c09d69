"""``build_chat_model`` and the ``auto`` choice: Ollama if reachable with the model, else
llama.cpp with a named GGUF, else extractive (it measured better than the bundled SmolLM2)."""

from __future__ import annotations

import sys

import pytest

from rag.config import LLMSettings
from rag.errors import ConfigError, LLMUnavailableError
from rag.llm import (
    ChatModel,
    ExtractiveChatModel,
    LlamaCppChatModel,
    OllamaChatModel,
    build_chat_model,
    default_model_path,
)
from rag.llm.auto import AutoChatModel
from tests.fakes.ollama_server import FakeOllama, unused_port_url


def auto(**kwargs: object) -> ChatModel:
    return build_chat_model(LLMSettings(backend="auto", connect_timeout_s=0.5, **kwargs))


def test_auto_picks_reachable_ollama_with_the_model(fake_ollama: FakeOllama) -> None:
    model = auto(ollama_host=fake_ollama.url)
    assert isinstance(model, AutoChatModel) and isinstance(model.active, OllamaChatModel)
    assert model.model_name == "llama3.2"
    assert model.info().backend == "ollama" and not model.info().fallback


def test_auto_keeps_a_busy_ollama(fake_ollama: FakeOllama) -> None:
    fake_ollama.mode = "busy"  # /api/chat is busy; the probe still sees the model
    assert auto(ollama_host=fake_ollama.url).backend == "ollama"


def test_auto_falls_back_to_extractive_when_ollama_lacks_the_model(
    fake_ollama: FakeOllama,
) -> None:
    model = auto(ollama_host=fake_ollama.url, model="mistral")
    assert model.backend == "extractive"
    info = model.info()
    assert info.fallback and info.preferred == "ollama" and "ollama pull mistral" in info.detail


def test_auto_falls_back_to_extractive_when_ollama_is_down() -> None:
    assert auto(ollama_host=unused_port_url()).backend == "extractive"


def test_auto_without_a_server_answers_with_extractive_not_the_bundled_model() -> None:
    model = auto()
    assert model.backend == "extractive" and not model.info().fallback


def test_auto_with_a_named_gguf_uses_llamacpp() -> None:
    model = auto(model=str(default_model_path()))
    assert model.backend == "llamacpp" and not model.info().fallback
    assert model.model_name == "SmolLM2-135M-Instruct.Q4_1"


def test_auto_falls_back_from_ollama_to_a_named_gguf() -> None:
    model = auto(ollama_host=unused_port_url(), model=str(default_model_path()))
    assert model.backend == "llamacpp" and model.info().fallback


def test_auto_without_llamacpp_is_extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    assert auto(ollama_host=unused_port_url()).backend == "extractive"


def test_auto_with_a_missing_gguf_is_extractive() -> None:
    assert auto(model="/nowhere/model.gguf").backend == "extractive"


def test_explicit_backends() -> None:
    assert isinstance(build_chat_model(LLMSettings(backend="extractive")), ExtractiveChatModel)
    assert isinstance(build_chat_model(LLMSettings(backend="llamacpp")), LlamaCppChatModel)
    ollama = build_chat_model(LLMSettings(backend="ollama", ollama_host="http://h:1", model="m"))
    assert isinstance(ollama, OllamaChatModel)  # built without contacting the server


def test_explicit_ollama_needs_a_host() -> None:
    with pytest.raises(ConfigError, match="MMRAG_LLM__OLLAMA_HOST"):
        build_chat_model(LLMSettings(backend="ollama"))


def test_explicit_llamacpp_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(LLMUnavailableError, match="local-llm"):
        build_chat_model(LLMSettings(backend="llamacpp"))


def test_every_backend_speaks_the_protocol() -> None:
    for backend in ("extractive", "llamacpp", "auto"):
        assert isinstance(build_chat_model(LLMSettings(backend=backend)), ChatModel)

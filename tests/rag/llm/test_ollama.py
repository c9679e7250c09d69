"""The Ollama backend with the real ``ollama`` client against the fake server, in every mode."""

from __future__ import annotations

import time

import pytest

from rag.config import LLMSettings
from rag.errors import LLMBusyError, LLMTimeoutError, LLMUnavailableError
from rag.llm import ChatMessage, GenerationOptions, OllamaChatModel
from rag.llm.ollama import parse_retry_after
from tests.fakes.ollama_server import FakeOllama, chat_requests, unused_port_url

MESSAGES = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "Capital of France?")]
OPTIONS = GenerationOptions(max_tokens=32, temperature=0.0, stop=("\n\n",), seed=7)


def model_for(
    server_url: str, model: str = "llama3.2", read_timeout_s: float = 5.0
) -> OllamaChatModel:
    return OllamaChatModel(
        server_url, model, connect_timeout_s=0.5, read_timeout_s=read_timeout_s, keep_alive="1m"
    )


def test_generate_returns_the_whole_answer(fake_ollama: FakeOllama) -> None:
    model = model_for(fake_ollama.url)
    assert model.generate(MESSAGES, OPTIONS) == "Paris is the capital [1]."
    assert model.model_name == "llama3.2"


def test_stream_yields_pieces_in_order(fake_ollama: FakeOllama) -> None:
    pieces = list(model_for(fake_ollama.url).stream(MESSAGES, OPTIONS))
    assert len(pieces) > 1
    assert "".join(pieces) == "Paris is the capital [1]."


def test_request_carries_messages_options_and_keep_alive(fake_ollama: FakeOllama) -> None:
    model_for(fake_ollama.url).generate(MESSAGES, OPTIONS)
    body = next(iter(chat_requests(fake_ollama)))
    assert body["model"] == "llama3.2"
    assert body["stream"] is False
    assert body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert body["options"] == {"temperature": 0.0, "num_predict": 32, "stop": ["\n\n"], "seed": 7}
    assert body["keep_alive"] == "1m"


def test_check_passes_when_the_model_is_pulled(fake_ollama: FakeOllama) -> None:
    model_for(fake_ollama.url).check()
    model_for(fake_ollama.url, "llama3.2:latest").check()


def test_missing_model_names_ollama_pull(fake_ollama: FakeOllama) -> None:
    model = model_for(fake_ollama.url, "qwen2.5:0.5b")
    for call in (model.check, lambda: model.generate(MESSAGES, OPTIONS)):
        with pytest.raises(LLMUnavailableError, match=r"ollama pull qwen2\.5:0\.5b"):
            call()
    with pytest.raises(LLMUnavailableError, match="ollama pull"):
        list(model.stream(MESSAGES, OPTIONS))


def test_down_server_is_unavailable() -> None:
    model = model_for(unused_port_url())
    for call in (model.check, lambda: model.generate(MESSAGES, OPTIONS)):
        with pytest.raises(LLMUnavailableError, match="cannot reach Ollama") as info:
            call()
        assert not isinstance(info.value, LLMBusyError)
    with pytest.raises(LLMUnavailableError, match="cannot reach Ollama"):
        list(model.stream(MESSAGES, OPTIONS))


@pytest.mark.parametrize("stream", [False, True])
def test_busy_server_gives_retry_after(fake_ollama: FakeOllama, stream: bool) -> None:
    fake_ollama.mode = "busy"
    model = model_for(fake_ollama.url)
    with pytest.raises(LLMBusyError, match="busy") as info:
        if stream:
            list(model.stream(MESSAGES, OPTIONS))
        else:
            model.generate(MESSAGES, OPTIONS)
    assert info.value.retry_after == 7.0


def test_busy_without_retry_after(fake_ollama: FakeOllama) -> None:
    fake_ollama.mode, fake_ollama.retry_after = "busy", None
    with pytest.raises(LLMBusyError) as info:
        model_for(fake_ollama.url).generate(MESSAGES, OPTIONS)
    assert info.value.retry_after is None


@pytest.mark.parametrize("stream", [False, True])
def test_slow_server_times_out(fake_ollama: FakeOllama, stream: bool) -> None:
    fake_ollama.mode, fake_ollama.slow_s = "slow", 3.0
    model = model_for(fake_ollama.url, read_timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError, match="READ_TIMEOUT_S"):
        if stream:
            list(model.stream(MESSAGES, OPTIONS))
        else:
            model.generate(MESSAGES, OPTIONS)
    assert time.monotonic() - started < 2.5  # the read timeout fired, not the server's reply


def test_stream_cut_midway_raises_instead_of_a_partial_answer(fake_ollama: FakeOllama) -> None:
    fake_ollama.mode = "cut"
    received: list[str] = []
    with pytest.raises(LLMUnavailableError, match="partial answer was discarded"):
        for piece in model_for(fake_ollama.url).stream(MESSAGES, OPTIONS):
            received.append(piece)
    assert received == ["Paris ", "is "]


def test_error_line_mid_stream_raises(fake_ollama: FakeOllama) -> None:
    fake_ollama.mode = "stream_error"
    with pytest.raises(LLMUnavailableError, match="error was encountered"):
        list(model_for(fake_ollama.url).stream(MESSAGES, OPTIONS))


def test_closing_a_stream_early_releases_the_connection(fake_ollama: FakeOllama) -> None:
    model = model_for(fake_ollama.url)
    stream = model.stream(MESSAGES, OPTIONS)
    assert next(stream) == "Paris "
    stream.close()
    assert model.generate(MESSAGES, OPTIONS) == "Paris is the capital [1]."


def test_from_settings() -> None:
    settings = LLMSettings(
        ollama_host="http://ollama:11434/", model="mistral", connect_timeout_s=1, keep_alive=""
    )
    model = OllamaChatModel.from_settings(settings)
    assert (model.host, model.model, model.connect_timeout_s) == (
        "http://ollama:11434",
        "mistral",
        1,
    )
    assert model.keep_alive is None
    gguf = OllamaChatModel.from_settings(LLMSettings(ollama_host="http://x", model="/m/a.gguf"))
    assert gguf.model == "llama3.2"


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0

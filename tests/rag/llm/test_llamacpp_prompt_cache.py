"""llama.cpp's prompt cache (``MMRAG_LLM__PROMPT_CACHE_MB``) with the real SmolLM2 GGUF: after
another prompt (a follow-up's rewrite) took the model's state, the next answer prompt evaluates
only what follows the fixed system prompt it shares with the answer before."""

from __future__ import annotations

from typing import Any

import pytest

from rag.config import LLMSettings
from rag.llm import ChatMessage, GenerationOptions, LlamaCppChatModel
from rag.llm.llamacpp import default_model_path

N_CTX = 1024
SYSTEM = "Answer from the context only and cite each block you use as [n]. " * 6
OPTIONS = GenerationOptions(max_tokens=2, temperature=0.0)


def evaluated(model: LlamaCppChatModel, messages: list[ChatMessage]) -> tuple[int, int]:
    """(tokens the model evaluated for ``messages``, the prompt's tokens)."""
    llm = model.loaded_llm()
    counted: list[int] = []
    original = llm.eval

    def counting(tokens: Any) -> None:
        counted.append(len(tokens))
        original(tokens)

    llm.eval = counting
    try:
        prompt_tokens = 0
        for _ in model.stream(messages, OPTIONS):
            prompt_tokens = prompt_tokens or llm.n_tokens
    finally:
        del llm.eval
    return counted[0], prompt_tokens


def answers_after_a_rewrite(model: LlamaCppChatModel) -> tuple[int, int]:
    list(model.stream([ChatMessage("system", SYSTEM), ChatMessage("user", "Red car?")], OPTIONS))
    rewrite = [ChatMessage("system", "Rewrite the question."), ChatMessage("user", "and it?")]
    list(model.stream(rewrite, OPTIONS))
    return evaluated(model, [ChatMessage("system", SYSTEM), ChatMessage("user", "Blue car?")])


@pytest.mark.llm
def test_with_the_prompt_cache_the_system_prompt_is_not_evaluated_again() -> None:
    model = LlamaCppChatModel(default_model_path(), N_CTX, prompt_cache_mb=64)
    evaluated_tokens, prompt_tokens = answers_after_a_rewrite(model)
    system_tokens = model.count_tokens(SYSTEM)
    assert evaluated_tokens <= prompt_tokens - system_tokens


@pytest.mark.llm
def test_without_the_prompt_cache_the_whole_prompt_is_evaluated_again() -> None:
    model = LlamaCppChatModel(default_model_path(), N_CTX, prompt_cache_mb=0)
    evaluated_tokens, prompt_tokens = answers_after_a_rewrite(model)
    assert evaluated_tokens >= prompt_tokens - 8  # the chat template's first tokens are shared


def test_the_settings_turn_the_prompt_cache_on_by_default() -> None:
    assert LlamaCppChatModel.from_settings(LLMSettings()).prompt_cache_mb == 256
    off = LLMSettings(prompt_cache_mb=0)
    assert LlamaCppChatModel.from_settings(off).prompt_cache_mb == 0


@pytest.mark.llm
def test_kept_states_hold_the_model_memory_without_its_logits() -> None:
    """The logits (100 MiB for SmolLM2) would be copied out after every answer and back before
    the next one's first token; a restored state is always evaluated on, so they go."""
    model = LlamaCppChatModel(default_model_path(), N_CTX, prompt_cache_mb=64)
    evaluated_tokens, prompt_tokens = answers_after_a_rewrite(model)
    assert evaluated_tokens < prompt_tokens  # started from a kept state
    cache = model.loaded_llm().cache
    states = list(cache.cache_state.values())
    assert states and all(state.scores.size == 0 for state in states)
    assert all(state.llama_state_size > 0 for state in states)


@pytest.mark.llm
def test_a_kept_state_sparing_a_few_tokens_more_is_not_restored() -> None:
    """Restoring a state costs what evaluating some 10-15 tokens does: a kept answer whose
    prompt shares only its first words more than the model's state does is left alone."""
    model = LlamaCppChatModel(default_model_path(), N_CTX, prompt_cache_mb=64)
    llm = model.loaded_llm()
    restored: list[int] = []
    original = llm.load_state

    def counting(state: Any) -> None:
        restored.append(state.n_tokens)
        original(state)

    llm.load_state = counting
    try:
        list(
            model.stream([ChatMessage("system", SYSTEM), ChatMessage("user", "Red car?")], OPTIONS)
        )
        list(
            model.stream(
                [ChatMessage("system", SYSTEM), ChatMessage("user", "Blue bike?")], OPTIONS
            )
        )
        list(
            model.stream(
                [ChatMessage("system", SYSTEM), ChatMessage("user", "Red car, why?")], OPTIONS
            )
        )
        assert restored == []
        answers_after_a_rewrite(model)  # the system prompt is worth restoring
        assert len(restored) == 1
    finally:
        del llm.load_state

"""``build_chat_model``: the backend of ``MMRAG_LLM__BACKEND``; ``auto`` prefers, in order, the
OpenAI-compatible server (``MMRAG_LLM__BASE_URL`` set), Ollama (``MMRAG_LLM__OLLAMA_HOST`` set),
embedded llama.cpp with a GGUF named in ``MMRAG_LLM__MODEL``, extractive, and comes back to a
better one when it answers again (:mod:`rag.llm.auto`).

Offline, ``auto`` answers with what measured better: on a grounded question set (the demo's
shelf questions and questions about ``docs/ingest.md``, ``python -m bench.answerers``) the
extractive backend was correct on 0.33 and cited the answering block on 0.78, the bundled
SmolLM2-135M on 0.00 and 0.00 (15 s an answer), so the bundled model is used only when asked
for (``MMRAG_LLM__BACKEND=llamacpp``).
"""

from __future__ import annotations

from collections.abc import Callable

from rag.config import LLMSettings
from rag.errors import ConfigError
from rag.llm.auto import AutoChatModel, Candidate
from rag.llm.base import ChatModel
from rag.llm.extractive import ExtractiveChatModel
from rag.llm.llamacpp import LlamaCppChatModel, llama_cpp_installed
from rag.llm.ollama import OllamaChatModel
from rag.llm.openai import OpenAIChatModel


def build_chat_model(settings: LLMSettings) -> ChatModel:
    """The chat model for these settings (cheap: weights load on first use; ``auto`` probes).

    Example::

        model = build_chat_model(LLMSettings(backend="extractive"))
        model.model_name  # 'extractive'
    """
    try:
        builder = _BACKENDS[settings.backend]
    except KeyError:
        valid = ", ".join(sorted(_BACKENDS))
        raise ConfigError(f"MMRAG_LLM__BACKEND={settings.backend!r}: use one of {valid}") from None
    return builder(settings)


def _openai(settings: LLMSettings) -> ChatModel:
    if not settings.base_url:
        raise ConfigError(
            "MMRAG_LLM__BACKEND=openai needs MMRAG_LLM__BASE_URL (http://host:8080/v1)"
        )
    return OpenAIChatModel.from_settings(settings)


def _ollama(settings: LLMSettings) -> ChatModel:
    if not settings.ollama_host:
        raise ConfigError(
            "MMRAG_LLM__BACKEND=ollama needs MMRAG_LLM__OLLAMA_HOST (http://host:11434)"
        )
    return OllamaChatModel.from_settings(settings)


def _llamacpp(settings: LLMSettings) -> ChatModel:
    model = LlamaCppChatModel.from_settings(settings)
    model.check()
    return model


def _extractive(settings: LLMSettings) -> ChatModel:
    return ExtractiveChatModel()


BUNDLED_GGUF_IN_AUTO = False
"""Whether ``auto`` answers with the bundled SmolLM2 before extractive: no, it measured worse
(this module's docstring)."""


def auto_candidates(settings: LLMSettings) -> list[Candidate]:
    """The backends ``auto`` may use for these settings, best first."""
    candidates = []
    if settings.base_url:
        candidates.append(Candidate("openai", lambda: OpenAIChatModel.from_settings(settings)))
    if settings.ollama_host:
        candidates.append(Candidate("ollama", lambda: OllamaChatModel.from_settings(settings)))
    if llama_cpp_installed() and (settings.model.endswith(".gguf") or BUNDLED_GGUF_IN_AUTO):
        candidates.append(Candidate("llamacpp", lambda: _llamacpp(settings)))
    candidates.append(Candidate("extractive", ExtractiveChatModel))
    return candidates


def _auto(settings: LLMSettings) -> ChatModel:
    return AutoChatModel(auto_candidates(settings), settings.reprobe_s)


_BACKENDS: dict[str, Callable[[LLMSettings], ChatModel]] = {
    "auto": _auto,
    "openai": _openai,
    "ollama": _ollama,
    "llamacpp": _llamacpp,
    "extractive": _extractive,
}

"""``build_chat_model``: the backend of ``MMRAG_LLM__BACKEND``, with ``auto`` deciding once.

``auto``: Ollama when ``MMRAG_LLM__OLLAMA_HOST`` is set, answers a quick probe (connect timeout)
and has the model; else embedded llama.cpp when installed with its GGUF; else extractive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rag.config import LLMSettings
from rag.errors import ConfigError, LLMBusyError, LLMUnavailableError
from rag.llm.base import ChatModel
from rag.llm.extractive import ExtractiveChatModel
from rag.llm.llamacpp import LlamaCppChatModel, llama_cpp_installed
from rag.llm.ollama import OllamaChatModel

log = logging.getLogger(__name__)


def build_chat_model(settings: LLMSettings) -> ChatModel:
    """The chat model for these settings (cheap: weights load on first use).

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


def _auto(settings: LLMSettings) -> ChatModel:
    if settings.ollama_host:
        ollama_model = OllamaChatModel.from_settings(settings)
        try:
            ollama_model.check()
            return _chosen(ollama_model, "Ollama answered the probe")
        except LLMBusyError:
            return _chosen(ollama_model, "Ollama is reachable (busy right now)")
        except LLMUnavailableError as exc:
            log.warning("LLM auto: Ollama not usable, falling back: %s", exc)
    if llama_cpp_installed():
        try:
            return _chosen(_llamacpp(settings), "llama-cpp-python is installed")
        except LLMUnavailableError as exc:
            log.warning("LLM auto: llama.cpp not usable, falling back: %s", exc)
    return _chosen(ExtractiveChatModel(), "no generating backend is available")


def _chosen(model: ChatModel, why: str) -> ChatModel:
    log.info("LLM auto: using %s (%s)", model.model_name, why)
    return model


_BACKENDS: dict[str, Callable[[LLMSettings], ChatModel]] = {
    "auto": _auto,
    "ollama": _ollama,
    "llamacpp": _llamacpp,
    "extractive": _extractive,
}

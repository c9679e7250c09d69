"""Chat models behind one seam (:class:`ChatModel`): any OpenAI-compatible server, Ollama over
HTTP, embedded llama.cpp (GGUF), and extractive (quotes, no generation). :func:`build_chat_model`
picks one from settings (``auto``: :class:`AutoChatModel`, the best one that answers).

Example::

    model = build_chat_model(settings.llm)
    text = model.generate([ChatMessage("user", "Hi")], GenerationOptions(max_tokens=32))
"""

from __future__ import annotations

from rag.llm.auto import AutoChatModel
from rag.llm.base import (
    BackendInfo,
    ChatImage,
    ChatMessage,
    ChatModel,
    GenerationOptions,
    GenerationReport,
    Role,
    TokenCounter,
)
from rag.llm.extractive import ExtractiveChatModel
from rag.llm.factory import build_chat_model
from rag.llm.llamacpp import LlamaCppChatModel, default_model_path
from rag.llm.ollama import OllamaChatModel
from rag.llm.openai import OpenAIChatModel

__all__ = [
    "AutoChatModel",
    "BackendInfo",
    "ChatImage",
    "ChatMessage",
    "ChatModel",
    "ExtractiveChatModel",
    "GenerationOptions",
    "GenerationReport",
    "LlamaCppChatModel",
    "OllamaChatModel",
    "OpenAIChatModel",
    "Role",
    "TokenCounter",
    "build_chat_model",
    "default_model_path",
]

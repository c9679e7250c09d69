"""Chat models behind one seam (:class:`ChatModel`): Ollama over HTTP, embedded llama.cpp (GGUF),
and extractive (quotes, no generation). :func:`build_chat_model` picks one from settings.

Example::

    model = build_chat_model(settings.llm)
    text = model.generate([ChatMessage("user", "Hi")], GenerationOptions(max_tokens=32))
"""

from __future__ import annotations

from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, Role, TokenCounter
from rag.llm.extractive import ExtractiveChatModel
from rag.llm.factory import build_chat_model
from rag.llm.llamacpp import LlamaCppChatModel, default_model_path
from rag.llm.ollama import OllamaChatModel

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ExtractiveChatModel",
    "GenerationOptions",
    "LlamaCppChatModel",
    "OllamaChatModel",
    "Role",
    "TokenCounter",
    "build_chat_model",
    "default_model_path",
]

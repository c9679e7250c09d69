"""The chat-model seam: every backend (Ollama, llama.cpp, extractive) speaks this."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int = 512
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    """Strings that end the answer when the model writes them (not included in it)."""
    seed: int | None = None
    """Sampling seed for repeatable answers where the backend supports one."""


@runtime_checkable
class ChatModel(Protocol):
    """Turns messages into an answer. ``model_name`` names the model that produced it.

    Errors: ``LLMUnavailableError`` (down / not installed / model missing),
    ``LLMBusyError`` (overloaded), ``LLMTimeoutError`` (no answer in time).
    """

    @property
    def model_name(self) -> str: ...

    def generate(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> str:
        """The whole answer at once."""
        ...

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        """The answer as text pieces, in order."""
        ...

    def check(self) -> None:
        """Raise ``LLMUnavailableError`` when the model cannot answer now (readiness probe)."""
        ...

    def warm_up(self) -> None:
        """Load what the model needs now (a no-op for a remote server)."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """A chat model that can count tokens with its own tokenizer (the answer pipeline budgets
    its context with it; models without one get a cheap estimate)."""

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in a prompt."""
        ...

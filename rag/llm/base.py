"""The chat-model seam: every backend (Ollama, OpenAI-compatible, llama.cpp, extractive) speaks
:class:`ChatModel`.

A grounded user message carries, next to its rendered text, the typed context it was rendered from
(:class:`rag.llm.context.Grounding`) and the pictures sent with it (:class:`ChatImage`); backends
that read the context (extractive) or send pictures (vision models) use those, never the text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from rag.llm.context import Grounding

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatImage:
    """A picture sent to a vision model: encoded bytes (already downscaled) and the context
    block ``n`` it belongs to (0: not from the context)."""

    data: bytes
    mime: str = "image/jpeg"
    n: int = 0


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    images: tuple[ChatImage, ...] = ()
    """Pictures for vision models (backends without vision never see them)."""
    grounding: Grounding | None = field(default=None, compare=False)
    """The question and context blocks ``content`` was rendered from (grounded prompts only)."""
    cited: tuple[str, ...] = field(default=(), compare=False)
    """The items (point ids) an earlier assistant turn cited: the next turn's retrieval takes
    them as candidates (:mod:`rag.condense`). Backends never see them."""


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int = 512
    temperature: float = 0.2
    stop: tuple[str, ...] = ()
    """Strings that end the answer when the model writes them (not included in it)."""
    seed: int | None = None
    """Sampling seed for repeatable answers where the backend supports one."""
    repeat_penalty: float | None = None
    """Penalty on repeating recent tokens (1.0: none) for the backends that take one (llama.cpp,
    Ollama); ``None`` leaves the backend's default."""


@dataclass
class GenerationReport:
    """What one generation call reports back, filled in by the backend as it goes: who answered
    and the backend's own token counts (``None`` where it gives none).

    Pass one to ``generate``/``stream`` and read it after the call (or the stream) ends.
    """

    backend: str = ""
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    fallback_from: str | None = None
    """The preferred backend (``auto``) that could not answer, so this one did."""
    images: int = 0
    """How many pictures the model was sent."""

    def answered_by(self, backend: str, model: str) -> None:
        self.backend, self.model = backend, model

    def usage(self, prompt_tokens: object, completion_tokens: object) -> None:
        """Record the backend's counts (ignores values that are not whole numbers)."""
        if isinstance(prompt_tokens, int) and not isinstance(prompt_tokens, bool):
            self.prompt_tokens = prompt_tokens
        if isinstance(completion_tokens, int) and not isinstance(completion_tokens, bool):
            self.completion_tokens = completion_tokens


@dataclass(frozen=True)
class BackendInfo:
    """Which backend and model answer now, whether they take pictures, and (``auto``) whether
    this is a fallback for the preferred backend that is down."""

    backend: str
    model: str
    vision: bool = False
    preferred: str | None = None
    """``auto`` only: the backend it would rather use."""
    fallback: bool = False
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "model": self.model,
            "vision": self.vision,
            "preferred": self.preferred,
            "fallback": self.fallback,
            "detail": self.detail,
        }


@runtime_checkable
class ChatModel(Protocol):
    """Turns messages into an answer. ``model_name`` names the model that produced it.

    Errors: ``LLMUnavailableError`` (down / not installed / model missing),
    ``LLMBusyError`` (overloaded), ``LLMTimeoutError`` (no answer in time),
    ``InvalidInputError`` (the prompt does not fit the model).
    """

    @property
    def model_name(self) -> str: ...

    @property
    def backend(self) -> str:
        """``ollama``, ``openai``, ``llamacpp`` or ``extractive``."""
        ...

    def info(self) -> BackendInfo:
        """The backend and model that answer now (cheap: no request is sent)."""
        ...

    def accepts_images(self) -> bool:
        """Whether the model reads :attr:`ChatMessage.images` (may ask the server once)."""
        ...

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> str:
        """The whole answer at once."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """The answer as text pieces, in order; ``report`` is complete when the stream ends."""
        ...

    def check(self) -> None:
        """Raise ``LLMUnavailableError`` when the model cannot answer now (readiness probe)."""
        ...

    def warm_up(self) -> None:
        """Load or reach the model now, so the first answer does not pay for it."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """A chat model that can count tokens with its own tokenizer (the answer pipeline budgets
    its context with it; models without one get a cheap estimate)."""

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in a prompt."""
        ...

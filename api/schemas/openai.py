"""OpenAI-compatible shapes: models, chat completions (plain and streamed chunks), embeddings.

Only the fields mmrag uses are declared; other fields clients send are accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.chat import CitationOut, GenerationOut, RetrievalOut
from api.schemas.search import QueryIn

MODEL_ID = "mmrag"
"""The model name mmrag answers as (any requested name is accepted)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageURL(_Lenient):
    url: str
    """A ``data:image/...;base64,`` URL (remote URLs are not fetched)."""


class ContentPart(_Lenient):
    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class MessageIn(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


class ChatCompletionIn(QueryIn):
    """A chat completion request; the last user message is the question, its ``image_url``
    parts the image query. mmrag's retrieval options (``top_k``, ``filter``...) may be added."""

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_ID
    messages: list[MessageIn] = Field(min_length=1, max_length=200)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    sources: bool = Field(
        default=True, description="End the message with a Markdown Sources block (mmrag)."
    )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    """Token counts: the LLM backend's own where it gives them, else estimated from the text."""

    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut]
    """mmrag's extra field: the items the answer cites."""
    generation: GenerationOut | None = None
    """mmrag's extra field: backend, model, fallback and token counts."""
    retrieval: RetrievalOut | None = None
    """mmrag's extra field: what was searched and how it was made."""


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "mmrag"


class ModelListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class EmbeddingsIn(_Lenient):
    """Texts to embed (token arrays are not accepted)."""

    input: str | list[str] = Field(examples=["a red square"])
    model: str = MODEL_ID
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)


class EmbeddingOut(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str
    """Floats, or base64 of little-endian float32 with ``encoding_format: base64``."""


class EmbeddingsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingOut]
    model: str
    usage: Usage


def chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed completion."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
        **extra,
    }

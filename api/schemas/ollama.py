"""Ollama-compatible shapes: ``/api/tags``, ``/api/chat``, ``/api/show``, ``/api/embed``.

Only the fields mmrag uses are declared; other fields clients send are accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.chat import CitationOut, GenerationOut, RetrievalOut
from api.schemas.search import QueryIn

MODEL_NAME = "mmrag:latest"
OLLAMA_VERSION = "0.6.0"
"""The Ollama API version mmrag answers ``/api/version`` with (clients check it exists)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OllamaMessageIn(_Lenient):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    """Base64 images; those of the last user message are the image query."""


class OllamaOptionsIn(_Lenient):
    num_predict: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)


class OllamaChatIn(QueryIn):
    """An Ollama chat request; the last user message is the question. Streams by default."""

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_NAME
    messages: list[OllamaMessageIn] = Field(min_length=1, max_length=200)
    stream: bool = True
    options: OllamaOptionsIn | None = None
    sources: bool = Field(
        default=True, description="End the message with a Markdown Sources block (mmrag)."
    )


class OllamaMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class OllamaChatOut(BaseModel):
    """The whole answer (``stream: false``); streamed, the last NDJSON line has this shape."""

    model: str
    created_at: str
    message: OllamaMessageOut
    done: bool = True
    done_reason: str = "stop"
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    eval_count: int = 0
    citations: list[CitationOut] = []
    """mmrag's extra field: the items the answer cites."""
    generation: GenerationOut | None = None
    """mmrag's extra field: backend, model, fallback and token counts."""
    retrieval: RetrievalOut | None = None
    """mmrag's extra field: what was searched and how it was made."""


class OllamaDetails(BaseModel):
    parent_model: str = ""
    format: str = "mmrag"
    family: str = "mmrag"
    families: list[str] = ["mmrag"]
    parameter_size: str = ""
    quantization_level: str = ""


class OllamaModelOut(BaseModel):
    name: str
    model: str
    modified_at: str
    size: int = 0
    digest: str
    details: OllamaDetails = Field(default_factory=OllamaDetails)


class OllamaTagsOut(BaseModel):
    models: list[OllamaModelOut]


class OllamaShowIn(_Lenient):
    model: str | None = None
    name: str | None = None


class OllamaShowOut(BaseModel):
    modelfile: str = ""
    parameters: str = ""
    template: str = ""
    details: OllamaDetails = Field(default_factory=OllamaDetails)
    model_info: dict[str, Any]
    capabilities: list[str] = ["completion", "vision"]
    modified_at: str


class OllamaVersionOut(BaseModel):
    version: str = OLLAMA_VERSION


class OllamaEmbedIn(_Lenient):
    model: str = MODEL_NAME
    input: str | list[str]


class OllamaEmbedOut(BaseModel):
    model: str
    embeddings: list[list[float]]

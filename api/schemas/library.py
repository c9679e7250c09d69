"""Browsing the collection page by page, and what serves it (models, store, options)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.items import ItemOut


class ItemPageOut(BaseModel):
    """One page of items ordered by id; pass ``next`` as ``cursor`` for the page after it."""

    items: list[ItemOut]
    next: str | None = None
    """The cursor of the next page; ``None`` on the last one."""
    total: int
    """Points matching the request's filter, over every page."""


class ModelsOut(BaseModel):
    """The models in use: CLIP, the reranker (``none`` when off), the LLM backend and model."""

    clip: str
    dim: int
    reranker: str
    llm_backend: str
    llm_model: str | None = None
    """``None`` when the LLM could not be built (``/ready`` says why)."""


class SearchOptionsOut(BaseModel):
    """The server's search defaults and caps, for forms that build requests."""

    fusion_modes: list[str]
    fusion: str
    weights: list[str] = Field(description="The signals a request's ``weights`` may name.")
    top_k: int
    max_top_k: int
    rerank: bool


class InfoOut(BaseModel):
    """What serves the collection and the limits a client must respect."""

    version: str
    collection: str
    store: str
    """``edge`` (embedded) or the Qdrant URL kind (``server``, ``local``)."""
    models: ModelsOut
    search: SearchOptionsOut
    max_upload_bytes: int
    max_question_chars: int

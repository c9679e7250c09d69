"""The arguments of the MCP tools: the HTTP routes' request schemas (``QueryIn``, ``TurnIn``,
``GenerationIn``, the ingest item's fields) with what a tool adds, unknown arguments refused.

A tool's ``inputSchema`` is its model's JSON schema; arguments are validated by the model, so a
tool refuses what the matching route refuses, with the same field rules.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.mcp.pictures import DEFAULT_PICTURES, MAX_PICTURES
from api.schemas.chat import GenerationIn, TurnIn
from api.schemas.ingest import IngestItemIn
from api.schemas.search import QueryIn
from rag.metadata import check_metadata

_STRICT = ConfigDict(extra="forbid")

Pictures = Field(
    default=DEFAULT_PICTURES,
    ge=0,
    le=MAX_PICTURES,
    description=f"How many hits carry their picture as image content (0 to {MAX_PICTURES}); "
    "pictures are downscaled and bounded in bytes.",
)


class SearchArgs(QueryIn):
    """``search``: words, a picture (base64, or the picture of an item by id), or both."""

    model_config = _STRICT

    text: str | None = Field(default=None, description="What to look for, in words.")
    image: str | None = Field(default=None, description="Base64 image bytes or a data: URL.")
    item_id: uuid.UUID | None = Field(
        default=None, description="Search with this item's picture (more like this one)."
    )
    pictures: int = Pictures


class AskArgs(QueryIn, GenerationIn):
    """``ask``: a question about the collection (and/or a picture), answered with citations."""

    model_config = _STRICT

    question: str | None = Field(default=None, description="The question.")
    image: str | None = Field(default=None, description="Base64 image bytes or a data: URL.")
    history: list[TurnIn] = Field(default_factory=list, max_length=100)
    pictures: int = Pictures


class ItemArgs(BaseModel):
    """``get_item``: one item by id."""

    model_config = _STRICT

    item_id: uuid.UUID
    picture: bool = Field(default=True, description="Add the item's picture as image content.")


class DocumentsArgs(BaseModel):
    """``list_documents``: a page of the collection's documents."""

    model_config = _STRICT

    limit: int = Field(default=20, ge=1, le=100, description="Documents per page.")
    cursor: str | None = Field(
        default=None, max_length=128, description="'next' of the previous page."
    )


class PageArgs(BaseModel):
    """``get_document_page``: one page (slide) of a document: its text and its render."""

    model_config = _STRICT

    document_id: uuid.UUID
    page: int = Field(ge=1, description="1-based page (slide) number.")
    picture: bool = Field(default=True, description="Add the page's render as image content.")


class IngestArgs(BaseModel):
    """``ingest``: server paths under ``MMRAG_INGEST__ROOTS``, or one file (base64) and/or text.

    The tool then builds the route's own body (``IngestPathsIn`` or ``IngestIn``) from them, so
    the route's checks run again."""

    model_config = _STRICT

    paths: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Folders, manifests or documents on the server, under MMRAG_INGEST__ROOTS.",
    )
    prune: bool = Field(
        default=False, description="With paths: delete points whose source is gone."
    )
    file: str | None = Field(
        default=None, description="A picture or document (PDF, DOCX, PPTX, HTML, Markdown), base64."
    )
    filename: str = Field(default="", max_length=255, description="Shown as the item's source.")
    text: str | None = Field(default=None, description="The item's text (a caption, a note).")
    id: str | None = Field(default=None, max_length=512, description="Your id for the item.")
    metadata: dict[str, Any] = IngestItemIn.model_fields["metadata"]  # type: ignore[assignment]
    policy: Literal["skip", "overwrite"] | None = None

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(value)  # as IngestItemIn bounds it


class JobArgs(BaseModel):
    """``job_status``: an ingest job by id."""

    model_config = _STRICT

    job_id: str = Field(min_length=1, max_length=128)

"""Ingest: items in (multipart or JSON), a job id out; the job's progress and report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.schemas.common import RequestModel
from ingest.specs import JobState, Progress
from rag.metadata import MAX_METADATA_BYTES, MAX_METADATA_DEPTH, check_metadata

MAX_ITEMS = 1000
"""Most items one ingest request may carry."""


class IngestItemIn(RequestModel):
    """One item: a picture (base64 or data URL), a text, or both."""

    image: str | None = Field(default=None, description="Base64 image bytes or a data: URL.")
    text: str | None = None
    filename: str = Field(default="", max_length=255, description="Shown as the item's source.")
    id: str | None = Field(default=None, max_length=512, description="Your id for the item.")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=f"A JSON object, at most {MAX_METADATA_DEPTH} levels deep and "
        f"{MAX_METADATA_BYTES} bytes.",
    )

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(value)


class IngestIn(RequestModel):
    """The JSON form of ``POST /v1/ingest``."""

    items: list[IngestItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    policy: Literal["skip", "overwrite"] | None = None
    """What to do with an item that exists already (default: ``MMRAG_INGEST__POLICY``)."""


class IngestPathsIn(RequestModel):
    """The server-paths form of ``POST /v1/ingest``: folders, manifests or documents on the
    server, under ``MMRAG_INGEST__ROOTS``."""

    paths: list[str] = Field(min_length=1, max_length=100)
    collection: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    policy: Literal["skip", "overwrite"] | None = None
    prune: bool = False
    """Delete points of these folders or manifests whose source is gone."""


class RejectedOut(BaseModel):
    """An item refused before queueing: its position in the request, name and why."""

    index: int | None
    source: str
    reason: str


class IngestAcceptedOut(BaseModel):
    job_id: str
    status_url: str
    accepted: int
    rejected: list[RejectedOut]


class JobOut(BaseModel):
    """An ingest job: its state, counters while it runs, and its report once it ends."""

    id: str
    state: JobState
    items: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Progress
    report: dict[str, Any] | None = None
    """Counters and every failed item with its reason (once the job ended)."""
    error: str | None = None
    """Why a failed job failed."""
    retry_of: str | None = None
    """The job whose failures this job runs again."""
    retryable: bool = False
    """Whether ``POST /v1/jobs/{id}/retry`` has something to run (failed items, or the job)."""


class JobListOut(BaseModel):
    jobs: list[JobOut]

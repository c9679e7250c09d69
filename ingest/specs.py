"""What a queued ingest job is (its spec) and what the queue reports about it (its status)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ingest.report import IngestReport
from rag import tracing


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class UploadItem(BaseModel):
    """An uploaded item after :func:`ingest.uploads.stage_uploads` saved and checked its image."""

    image_path: str | None = None
    text: str | None = None
    document_path: str | None = None
    """A staged document (PDF, DOCX, PPTX, HTML, Markdown) that expands into pages."""
    filename: str = ""
    external_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class JobSpec(BaseModel):
    """An ingest job: server-side ``paths`` (folders, manifests) or staged upload ``items``.

    Unset options (``None``) use the worker's settings.
    """

    kind: Literal["paths", "upload", "sync"] = "paths"
    paths: list[str] = Field(default_factory=list)
    items: list[UploadItem] = Field(default_factory=list)
    collection: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    policy: Literal["skip", "overwrite"] | None = None
    prune: bool = False
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    tenant: str | None = None
    """The tenant whose points the job writes (``rag.payload.TENANT``); ``None``: untenanted."""
    roots: list[str] | None = None
    """Server paths: the ingest roots (``MMRAG_INGEST__ROOTS`` at submit) that the worker checks
    each path against again when it opens it, and opens every file from without following a
    symlink. ``None``: a local user's paths (``mmrag ingest``), trusted as they are."""
    trace: dict[str, str] = Field(default_factory=tracing.carrier)
    """The trace of the request that made the job (W3C ``traceparent``), which the worker's spans
    join; empty when traces are off."""
    source: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    """The name of the configured source this job serves: a ``sync`` job syncs it
    (:mod:`ingest.sync`), and its failures are that source's too."""
    retry_of: str | None = None
    """The job whose failures this job runs again (``POST /v1/jobs/{id}/retry``)."""
    only: list[str] | None = None
    """Run only the items shown with these names in a report's failures (``None``: all)."""

    @model_validator(mode="after")
    def _has_work(self) -> JobSpec:
        if self.kind == "paths" and not self.paths:
            raise ValueError("a 'paths' job needs at least one path")
        if self.kind == "upload" and not self.items:
            raise ValueError("an 'upload' job needs at least one staged item")
        if self.kind == "sync" and not self.source:
            raise ValueError("a 'sync' job needs the name of its source")
        return self

    @classmethod
    def for_uploads(
        cls,
        items: list[UploadItem],
        collection: str | None = None,
        policy: Literal["skip", "overwrite"] | None = None,
        tenant: str | None = None,
    ) -> JobSpec:
        """The job that ingests items staged by :func:`ingest.uploads.stage_uploads`."""
        return cls(kind="upload", items=items, collection=collection, policy=policy, tenant=tenant)

    @classmethod
    def for_source(cls, name: str, collection: str | None, tenant: str | None) -> JobSpec:
        """The job that syncs the configured source ``name`` (:mod:`ingest.sync`)."""
        return cls(kind="sync", source=name, collection=collection, tenant=tenant)


class Progress(BaseModel):
    """Counters of a running or finished job."""

    seen: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0

    @classmethod
    def of(cls, report: IngestReport) -> Progress:
        return cls(
            seen=report.seen,
            written=report.written,
            unchanged=report.unchanged,
            failed=report.failed,
        )


class JobStatus(BaseModel):
    """A job as the queue knows it. ``report`` (``IngestReport.to_dict()``) is set once it ends;
    ``error`` says why a failed job failed."""

    id: str
    state: JobState
    spec: JobSpec
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Progress = Field(default_factory=Progress)
    report: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    cancel_requested: bool = False
    tasks: int | None = None
    """How many tasks the job was split into (Redis queue, once planned)."""

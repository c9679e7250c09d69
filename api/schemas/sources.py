"""Synced sources: what an admin sends to add one, and what the API shows of it (never a
credential: an S3 source's keys stay in the environment or its secrets file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ingest.sync.model import SourceConfig, SourceState


class SourceIn(SourceConfig):
    """A source to add (``tenant``: set by a ``*`` admin key; a tenant's admin key adds
    sources of its own tenant)."""

    model_config = ConfigDict(extra="forbid")


class SourceOut(BaseModel):
    """A source's configuration and its state (last sync, counts, errors, next run)."""

    config: SourceConfig
    state: SourceState


class SourceListOut(BaseModel):
    sources: list[SourceOut]


class SyncAcceptedOut(BaseModel):
    """The queued sync job (``GET /v1/ingest/{job_id}`` follows it)."""

    job_id: str
    source: str


class SourceRemovedOut(BaseModel):
    source: str
    points_deleted: int

"""What a synced source is (its configuration) and what the last syncs left (its state)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator

SourceKind = Literal["folder", "s3", "web"]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"


class SourceConfig(BaseModel):
    """A source: where its objects are, where they go, and when it syncs.

    ``location``: a server folder (``folder``), ``s3://bucket/prefix`` (``s3``), or a start
    page or sitemap URL (``web``). Credentials are never part of it: an S3 source reads them
    from the environment (boto3's chain) or from ``secrets_file`` (a JSON object on the server).
    """

    name: str = Field(pattern=NAME_PATTERN)
    kind: SourceKind
    location: str = Field(min_length=1, max_length=2048)
    collection: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    tenant: str | None = None
    schedule_s: int | None = Field(default=None, ge=10, le=30 * 24 * 3600)
    """Seconds between scheduled syncs; ``None``: on request (and, for a folder, when watched)."""
    watch: bool = True
    """``folder``: sync when files change (watchfiles), after ``debounce_ms`` of quiet."""
    debounce_ms: int = Field(default=1000, ge=50, le=600_000)
    policy: Literal["skip", "overwrite"] | None = None
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    endpoint_url: str | None = Field(default=None, max_length=2048)
    region: str | None = Field(default=None, max_length=64)
    secrets_file: str | None = Field(default=None, max_length=4096)
    hosts: list[str] = Field(default_factory=list, max_length=32)
    """``web``: the hosts pages and pictures may come from, ``host`` (its scheme's default port)
    or ``host:port`` (default: the location's)."""
    max_depth: int = Field(default=2, ge=0, le=10)
    max_pages: int = Field(default=100, ge=1, le=10_000)

    @model_validator(mode="after")
    def _check_kind(self) -> SourceConfig:
        if self.kind == "s3":
            parts = urlsplit(self.location)
            if parts.scheme != "s3" or not parts.netloc:
                raise ValueError("an s3 source's location is s3://bucket/prefix")
        if self.kind == "web":
            parts = urlsplit(self.location)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("a web source's location is an http(s) URL")
            if not self.hosts:
                port = f":{parts.port}" if parts.port else ""
                self.hosts = [parts.hostname.lower() + port]
            self.hosts = [host.lower() for host in self.hosts]
        if self.kind == "folder" and not self.location.startswith("/"):
            raise ValueError("a folder source's location is an absolute server path")
        return self

    @property
    def bucket(self) -> str:
        return urlsplit(self.location).netloc

    @property
    def prefix(self) -> str:
        return urlsplit(self.location).path.lstrip("/")


class SourceState(BaseModel):
    """What the syncs of a source left: the last one's time, job, counts and error."""

    last_job: str | None = None
    last_sync_at: datetime | None = None
    last_ok_at: datetime | None = None
    next_run_at: datetime | None = None
    seen: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    moved: int = 0
    fetched: int = 0
    points_written: int = 0
    error: str | None = None
    errors: list[str] = Field(default_factory=list)
    """Per-object errors of the last sync (at most 50)."""


class SourceRecord(BaseModel):
    """A source with its state."""

    config: SourceConfig
    state: SourceState = Field(default_factory=SourceState)

"""Schemas of a job's failures (its dead letters) and of the job that retries them."""

from __future__ import annotations

from pydantic import BaseModel

from ingest.specs import JobState


class FailureOut(BaseModel):
    """An item that failed for good: its name in the job, why, after how many tries, and
    whether its last error was transient (a server away) rather than permanent (a bad file)."""

    source: str
    reason: str
    index: int | None = None
    attempts: int = 1
    transient: bool = False


class FailuresOut(BaseModel):
    """A job's dead letters."""

    job_id: str
    state: JobState
    source: str | None = None
    """The synced source the job served, if any."""
    whole_job: bool
    """The job failed as a whole (``error`` says why): a retry runs all of it again."""
    error: str | None = None
    failed: int
    """How many items failed (exact, however many ``failures`` lists)."""
    failures: list[FailureOut]
    truncated: bool
    """More items failed than are listed (raise ``limit``, up to the report's cap)."""
    retryable: bool


class RetryOut(BaseModel):
    """The new job that runs the failures again."""

    job_id: str
    status_url: str
    retry_of: str
    items: int | None
    """How many failed items it runs again; ``None``: the whole job."""

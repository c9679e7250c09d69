"""The two seams of the ingest queue, whichever queue serves: :class:`Jobs` (create, watch, list
and cancel jobs) and :class:`Worker` (takes their work). :mod:`ingest.queue` picks the queue;
modules that only need the seam (cleanup, the API) import it from here.
"""

from __future__ import annotations

from typing import Protocol

from ingest.specs import JobSpec, JobState, JobStatus


class Jobs(Protocol):
    """Create, watch, list and cancel ingest jobs."""

    def submit(self, spec: JobSpec) -> str:
        """Queue ``spec``; returns the new job's id."""
        ...

    def get(self, job_id: str) -> JobStatus:
        """The job's state, progress and (once ended) report; ``NotFoundError`` if unknown."""
        ...

    def jobs(
        self, limit: int = 50, state: JobState | None = None, tenant: str | None = None
    ) -> list[JobStatus]:
        """Jobs, newest first; with ``tenant``, only that tenant's (``None``: every job)."""
        ...

    def cancel(self, job_id: str) -> JobStatus:
        """Drop the job's pending work; running work stops after its current batch."""
        ...


class Worker(Protocol):
    """Takes work from a queue: in a background thread (``start``/``stop``) or in the
    foreground (``run_forever`` until ``request_stop``)."""

    def start(self) -> None: ...

    def run_forever(self) -> None: ...

    def request_stop(self) -> None: ...

    def stop(self, timeout_s: float | None = 60.0) -> None: ...

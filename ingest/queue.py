"""One job API over both queues: SQLite (one machine, the default) and Redis (any number of
workers). The settings choose: ``MMRAG_QUEUE__URL`` empty or ``redis://…``.

Example::

    jobs = open_jobs(settings)
    job_id = jobs.submit(JobSpec(paths=["/srv/photos"]))
    jobs.get(job_id).progress.seen
"""

from __future__ import annotations

from typing import Protocol

from ingest.specs import JobSpec, JobState, JobStatus
from rag.config import Settings
from rag.services import Services


class Jobs(Protocol):
    """Create, watch, list and cancel ingest jobs."""

    def submit(self, spec: JobSpec) -> str:
        """Queue ``spec``; returns the new job's id."""
        ...

    def get(self, job_id: str) -> JobStatus:
        """The job's state, progress and (once ended) report; ``NotFoundError`` if unknown."""
        ...

    def jobs(self, limit: int = 50, state: JobState | None = None) -> list[JobStatus]:
        """Jobs, newest first."""
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


def open_jobs(settings: Settings) -> Jobs:
    """The Redis queue when ``MMRAG_QUEUE__URL`` is set, else ``<data_dir>/jobs.sqlite3``."""
    if settings.queue.url:
        from ingest.redis_queue import RedisJobs

        return RedisJobs(settings.queue)
    from ingest.jobs import JobQueue

    return JobQueue.for_settings(settings)


def make_worker(services: Services, jobs: Jobs | None = None) -> Worker:
    """A worker for the configured queue (``jobs``: the SQLite queue to share, if open)."""
    if services.settings.queue.url:
        from ingest.redis_queue import RedisWorker

        return RedisWorker(services)
    from ingest.jobs import JobQueue
    from ingest.worker import IngestWorker

    queue = jobs if isinstance(jobs, JobQueue) else JobQueue.for_settings(services.settings)
    return IngestWorker(services, queue)

"""One job API over both queues: SQLite (one machine, the default) and Redis (any number of
workers). The settings choose: ``MMRAG_QUEUE__URL`` empty or ``redis://…``.

Example::

    jobs = open_jobs(settings)
    job_id = jobs.submit(JobSpec(paths=["/srv/photos"]))
    jobs.get(job_id).progress.seen
"""

from __future__ import annotations

from ingest.job_api import Jobs, Worker
from ingest.jobs import JobQueue
from ingest.redis_queue import RedisJobs, RedisWorker
from ingest.worker import IngestWorker
from rag.config import Settings
from rag.services import Services

__all__ = ["Jobs", "Worker", "make_worker", "open_jobs"]


def open_jobs(settings: Settings) -> Jobs:
    """The Redis queue when ``MMRAG_QUEUE__URL`` is set, else ``<data_dir>/jobs.sqlite3``."""
    if settings.queue.url:
        return RedisJobs(settings.queue)
    return JobQueue.for_settings(settings)


def make_worker(services: Services, jobs: Jobs | None = None) -> Worker:
    """A worker for the configured queue (``jobs``: the SQLite queue to share, if open)."""
    if services.settings.queue.url:
        return RedisWorker(services)
    queue = jobs if isinstance(jobs, JobQueue) else JobQueue.for_settings(services.settings)
    return IngestWorker(services, queue)

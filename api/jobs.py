"""The app's ingest job queue and its embedded worker."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from api.auth import Principal, sees_job
from ingest.queue import Jobs, Worker, make_worker, open_jobs
from ingest.specs import JobStatus
from ingest.stored_files import sweep_partial_files
from ingest.sync.scheduler import SyncScheduler
from rag.errors import NotFoundError
from rag.services import Services

log = logging.getLogger(__name__)

_lock = threading.Lock()


def job_queue(app: FastAPI) -> Jobs:
    """The app's queue (``<data_dir>/jobs.sqlite3``, or Redis by ``MMRAG_QUEUE__URL``), opened
    on first use."""
    with _lock:
        queue = getattr(app.state, "queue", None)
        if queue is None:
            queue = app.state.queue = open_jobs(app.state.services.settings)
        return queue


def get_queue(request: Request) -> Jobs:
    return job_queue(request.app)


QueueDep = Annotated[Jobs, Depends(get_queue)]


def visible_job(queue: Jobs, job_id: str, principal: Principal) -> JobStatus:
    """The job ``job_id`` if ``principal`` may see it (its tenant's); 404 as for an unknown id
    otherwise."""
    job = queue.get(job_id)
    if not sees_job(principal, job.spec.tenant):
        raise NotFoundError(f"no ingest job {job_id}")
    return job


def start_worker(app: FastAPI) -> Worker | None:
    """Start the ingest worker on the app's services in embedded mode; ``None`` when off.
    First, ``.part`` files a killed process left in the upload and render folders go."""
    services: Services = app.state.services
    sweep_partial_files(services.settings.files_dir)
    if not services.settings.api.embedded_worker:
        log.info("embedded ingest worker off: separate workers take the jobs")
        return None
    worker = make_worker(services, job_queue(app))
    worker.start()
    return worker


def start_sources(app: FastAPI) -> SyncScheduler | None:
    """Start the synced sources' scheduler and folder watchers (``MMRAG_SOURCES__SCHEDULER``
    off: none; another process queues the syncs)."""
    services: Services = app.state.services
    if not services.settings.sources.scheduler:
        return None
    scheduler = SyncScheduler(services.settings, job_queue(app))
    scheduler.start()
    return scheduler

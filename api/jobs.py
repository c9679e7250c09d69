"""The app's ingest job queue and its embedded worker."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from ingest.jobs import JobQueue
from ingest.worker import IngestWorker
from rag.services import Services

log = logging.getLogger(__name__)

_lock = threading.Lock()


def job_queue(app: FastAPI) -> JobQueue:
    """The app's queue (``<data_dir>/jobs.sqlite3``), opened on first use."""
    with _lock:
        queue = getattr(app.state, "queue", None)
        if queue is None:
            queue = app.state.queue = JobQueue.for_settings(app.state.services.settings)
        return queue


def get_queue(request: Request) -> JobQueue:
    return job_queue(request.app)


QueueDep = Annotated[JobQueue, Depends(get_queue)]


def start_worker(app: FastAPI) -> IngestWorker | None:
    """Start the ingest worker on the app's services in embedded mode; ``None`` when off."""
    services: Services = app.state.services
    if not services.settings.api.embedded_worker:
        log.info("embedded ingest worker off: separate workers take the jobs")
        return None
    worker = IngestWorker(services, job_queue(app))
    worker.start()
    return worker

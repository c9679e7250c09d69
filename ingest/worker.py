"""The ingest worker: takes jobs from the :class:`~ingest.jobs.JobQueue` and runs them.

Embedded mode (inside the API process, sharing its ``Services``)::

    worker = IngestWorker(services, JobQueue.for_settings(services.settings))
    worker.start()   # background thread
    ...
    worker.stop()    # at shutdown: the running job stops after its batch and is requeued

Standalone: ``python -m ingest`` calls :meth:`IngestWorker.run_forever`.
"""

from __future__ import annotations

import logging
import threading

from ingest.cleanup import discard_files, paths_of, pending_paths
from ingest.jobs import JobQueue, owner_id
from ingest.metrics import record_report
from ingest.report import IngestReport
from ingest.specs import JobState, JobStatus, Progress
from ingest.sync.run import run_spec
from rag import tracing
from rag.errors import MmragError
from rag.services import Services
from rag.store.base import VectorStore

log = logging.getLogger(__name__)


class IngestWorker:
    """Runs queued ingest jobs one at a time with the model and store of ``services``."""

    def __init__(
        self,
        services: Services,
        queue: JobQueue,
        poll_interval_s: float = 2.0,
        stale_after_s: float = 60.0,
        heartbeat_s: float = 10.0,
    ) -> None:
        self.services = services
        self.queue = queue
        self.poll_interval_s = poll_interval_s
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self.owner = owner_id("ingest-worker")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run :meth:`run_forever` in a background thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name="mmrag-ingest-worker", daemon=True
        )
        self._thread.start()

    def run_forever(self) -> None:
        """Take and run jobs until :meth:`stop` (or :meth:`request_stop`)."""
        log.info("ingest worker %s waiting for jobs in %s", self.owner, self.queue.path)
        while not self._stopping.is_set():
            self.queue.recover(self.stale_after_s)
            if self.run_once() is None and not self._stopping.is_set():
                self.queue.wait_for_work(self.poll_interval_s)

    def run_once(self) -> str | None:
        """Claim and run one queued job; returns its id, or ``None`` when none was queued."""
        job = self.queue.claim(self.owner)
        if job is None:
            return None
        attributes = {"mmrag.job_id": job.id, "mmrag.job.kind": job.spec.kind}
        with tracing.span("ingest.job", job.spec.trace, attributes):
            log.info("ingest job %s started (%s)", job.id, job.spec.kind)
            with _Heartbeat(self.queue, job.id, self.owner, self.heartbeat_s):
                self._run(job)
            state = self.queue.get(job.id).state.value
            tracing.annotate({"mmrag.job.state": state})
            log.info("ingest job %s ended: %s", job.id, state)
        return job.id

    def request_stop(self) -> None:
        """Ask the loop to end after the current batch (safe in a signal handler)."""
        self._stopping.set()

    def stop(self, timeout_s: float | None = 60.0) -> None:
        """Stop the loop and wait for the background thread (stores belong to ``services``)."""
        self.request_stop()
        self.queue.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self, job: JobStatus) -> None:
        sink = _JobProgress(self.queue, job.id, self.owner)
        try:
            report = run_spec(
                self.services,
                job.spec,
                progress=sink,
                should_stop=lambda: self._stopping.is_set() or sink.cancelled,
            )
        except MmragError as exc:
            ended = self.queue.fail(job.id, self.owner, str(exc))
        except Exception as exc:
            log.exception("ingest job %s crashed", job.id)
            error = f"unexpected error: {type(exc).__name__}: {exc}"
            ended = self.queue.fail(job.id, self.owner, error)
        else:
            ended = self._end(job.id, report, sink.cancelled)
        if ended:  # not when requeued, or taken over by another worker
            self._discard_uploads(job)

    def _discard_uploads(self, job: JobStatus) -> None:
        """Delete the job's staged files that no point and no other job needs (what it ingested
        stays: its points name it)."""
        if job.spec.kind != "upload":
            return
        try:
            keep = pending_paths(self.queue, skip_job=job.id, tenant=job.spec.tenant)
            store = self._store(job.spec.collection)
            discard_files(paths_of(job.spec), store, self.services.settings.files_dir, keep)
        except Exception:
            log.exception("could not clean the uploads of ingest job %s", job.id)

    def _end(self, job_id: str, report: IngestReport, cancelled: bool) -> bool:
        """Record how the job ended; ``False`` when it was requeued (or is not ours)."""
        record_report(report.to_dict())
        if not report.stopped:
            return self.queue.finish(job_id, self.owner, report.to_dict(), final_state(report))
        if cancelled:
            return self.queue.finish(job_id, self.owner, report.to_dict(), JobState.CANCELLED)
        self.queue.release(job_id, self.owner)
        return False

    def _store(self, collection: str | None) -> VectorStore:
        return self.services.store_for(collection)


def final_state(report: IngestReport) -> JobState:
    """``failed`` when the run saw items and every one failed, else ``done``."""
    return JobState.FAILED if report.seen and report.failed == report.seen else JobState.DONE


class _JobProgress:
    """Writes a job's counters after each batch and notices a cancel request."""

    def __init__(self, queue: JobQueue, job_id: str, owner: str) -> None:
        self.queue = queue
        self.job_id = job_id
        self.owner = owner
        self.cancelled = False

    def update(self, report: IngestReport) -> None:
        stop = self.queue.heartbeat(self.job_id, self.owner, Progress.of(report))
        self.cancelled = stop or self.cancelled


class _Heartbeat:
    """Keeps a job's heartbeat fresh during long batches (a background timer)."""

    def __init__(self, queue: JobQueue, job_id: str, owner: str, interval_s: float) -> None:
        self.queue = queue
        self.job_id = job_id
        self.owner = owner
        self.interval_s = interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mmrag-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.interval_s):
            try:
                self.queue.heartbeat(self.job_id, self.owner)
            except Exception as exc:  # a locked or broken database must not end the beat
                log.warning("could not record the heartbeat of ingest job %s: %s", self.job_id, exc)

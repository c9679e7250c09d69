"""When sources sync: on request (:func:`submit_sync`), on their schedule, and, for watched
folders, after their files change (watchfiles, debounced). Each sync is a job on the queue.

Example (``mmrag serve`` runs one beside its worker)::

    scheduler = SyncScheduler(settings, jobs)
    scheduler.start()
    ...
    scheduler.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ingest.job_api import Jobs
from ingest.specs import JobSpec, JobState
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry
from rag.config import Settings
from rag.errors import MmragError

log = logging.getLogger(__name__)


def submit_sync(jobs: Jobs, registry: SourceRegistry, name: str) -> str:
    """Queue a sync of source ``name`` and return its job id; while one is still queued, that
    one's id (it will see every change made until it starts)."""
    record = registry.get(name)
    if record.state.last_job:
        try:
            if jobs.get(record.state.last_job).state == JobState.QUEUED:
                return record.state.last_job
        except MmragError:
            pass
    config = record.config
    job_id = jobs.submit(JobSpec.for_source(config.name, config.collection, config.tenant))
    registry.submitted(name, job_id)
    return job_id


class SyncScheduler:
    """A background thread that queues due syncs and runs one watcher thread per watched
    folder source (sources added or removed while it runs are noticed within ``tick_s``)."""

    def __init__(self, settings: Settings, jobs: Jobs, tick_s: float = 1.0) -> None:
        self.registry = SourceRegistry.for_settings(settings)
        self.jobs = jobs
        self.tick_s = tick_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchers: dict[str, _Watcher] = {}

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="mmrag-sources", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for watcher in list(self._watchers.values()):
            watcher.stop(timeout_s)
        self._watchers.clear()

    def tick(self) -> None:
        """Queue the due syncs; start and stop watchers to match the sources."""
        for record in self.registry.due():
            self._submit(record.config.name)
        watched = {
            r.config.name: r.config
            for r in self.registry.records()
            if r.config.kind == "folder" and r.config.watch
        }
        for name in set(self._watchers) - set(watched):
            self._watchers.pop(name).stop()
        for name, config in watched.items():
            current = self._watchers.get(name)
            if current is not None and current.config == config:
                continue
            if current is not None:
                current.stop()
            self._watchers[name] = _Watcher(config, self._submit)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("the source scheduler's tick failed")
            self._stopping.wait(self.tick_s)

    def _submit(self, name: str) -> None:
        try:
            job_id = submit_sync(self.jobs, self.registry, name)
            log.info("source %s: sync job %s queued", name, job_id)
        except MmragError as exc:
            log.warning("source %s: sync not queued: %s", name, exc)


class _Watcher:
    """Queues a sync of a folder source after its files change (quiet for ``debounce_ms``)."""

    def __init__(self, config: SourceConfig, submit: Callable[[str], None]) -> None:
        self.config = config
        self._submit = submit
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name=f"mmrag-watch-{config.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _watch(self) -> None:
        import watchfiles

        path = Path(self.config.location)
        while not self._stop.is_set():
            try:
                for _changes in watchfiles.watch(
                    path,
                    debounce=self.config.debounce_ms,
                    step=min(50, self.config.debounce_ms),
                    stop_event=self._stop,
                    rust_timeout=1000,
                    yield_on_timeout=False,
                    raise_interrupt=False,
                ):
                    self._submit(self.config.name)
            except Exception as exc:  # the folder is missing or unreadable: retry later
                log.warning("source %s: cannot watch %s: %s", self.config.name, path, exc)
                self._stop.wait(10.0)

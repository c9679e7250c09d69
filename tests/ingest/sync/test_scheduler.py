"""When syncs are queued: on schedule, once while one waits, and watchers for folder sources."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.jobs import JobQueue
from ingest.specs import JobState
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry
from ingest.sync.scheduler import SyncScheduler, submit_sync
from rag.config import Settings


def test_a_scheduled_source_is_queued_when_due_and_a_waiting_sync_is_reused(
    settings: Settings, tmp_path: Path
) -> None:
    registry = SourceRegistry.for_settings(settings)
    queue = JobQueue.for_settings(settings)
    config = SourceConfig(name="site", kind="web", location="http://127.0.0.1:9/", schedule_s=60)
    registry.add(config)
    scheduler = SyncScheduler(settings, queue)
    scheduler.tick()
    (job,) = queue.jobs()
    assert job.spec.kind == "sync" and job.spec.source == "site"
    state = registry.get("site").state
    assert state.last_job == job.id and state.next_run_at is not None
    assert state.next_run_at > datetime.now(UTC) + timedelta(seconds=50)
    scheduler.tick()  # not due again yet
    assert submit_sync(queue, registry, "site") == job.id  # still queued: the same job
    assert len(queue.jobs()) == 1
    claimed = queue.claim("worker")
    assert claimed is not None and claimed.state == JobState.RUNNING
    assert submit_sync(queue, registry, "site") != job.id  # running: a new one queues
    scheduler.stop()


def test_a_watched_folder_queues_a_sync_after_a_change(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    registry = SourceRegistry.for_settings(settings)
    queue = JobQueue.for_settings(settings)
    config = SourceConfig(name="w", kind="folder", location=str(folder), debounce_ms=100)
    registry.add(config)
    scheduler = SyncScheduler(settings, queue, tick_s=0.1)
    scheduler.start()
    try:
        time.sleep(1.0)  # the watcher is up
        assert queue.jobs() == []
        (folder / "a.txt").write_text("hello", encoding="utf-8")
        deadline = time.monotonic() + 20
        while not queue.jobs():
            assert time.monotonic() < deadline, "no sync was queued"
            time.sleep(0.05)
        assert queue.jobs()[0].spec.source == "w"
        registry.remove("w")
        time.sleep(0.5)
        assert "w" not in scheduler._watchers  # a removed source is no longer watched
    finally:
        scheduler.stop()

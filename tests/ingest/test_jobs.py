"""The job queue persists and recovers; the worker runs jobs, uploads and cancellations."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.jobs import MAX_ATTEMPTS, JobQueue, JobSpec, JobState, owner_id
from ingest.uploads import UPLOAD_ROOT, Upload, stage_uploads, uploads_dir
from ingest.worker import IngestWorker, _Heartbeat
from rag import payload as keys
from rag.errors import NotFoundError
from tests.ingest.checks import all_points, check_invariants
from tests.ingest.draw import captioned_folder, image_bytes


@pytest.fixture
def queue(tmp_path: Path) -> JobQueue:
    return JobQueue(tmp_path / "data" / "jobs.sqlite3")


def _dead_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}|{child.pid}|gone|worker"


def test_jobs_persist_across_queue_instances(queue: JobQueue) -> None:
    first = queue.submit(JobSpec(paths=["/a"]))
    second = queue.submit(JobSpec(paths=["/b"], prune=True))
    reopened = JobQueue(queue.path)
    assert [j.id for j in reopened.jobs()] == [second, first]
    assert reopened.get(second).spec.prune is True
    claimed = reopened.claim("me")
    assert claimed is not None and claimed.id == first and claimed.state == JobState.RUNNING
    assert queue.get(first).attempts == 1
    with pytest.raises(NotFoundError):
        queue.get("nope")


def test_spec_needs_work() -> None:
    with pytest.raises(ValueError, match="at least one path"):
        JobSpec(kind="paths")


def test_recover_requeues_jobs_of_dead_or_silent_workers_only(queue: JobQueue) -> None:
    dead, silent, alive = (queue.submit(JobSpec(paths=[p])) for p in "xyz")
    queue.claim(_dead_owner())
    queue.claim("other-host|1|n|worker")
    queue.claim(owner_id("live"))
    assert set(queue.recover(stale_after_s=60)) == {dead}
    assert set(queue.recover(stale_after_s=0.0)) >= {silent}
    states = {j.id: j.state for j in queue.jobs()}
    assert states[dead] == states[silent] == JobState.QUEUED
    assert alive in states


def test_a_job_whose_worker_keeps_dying_fails(queue: JobQueue) -> None:
    job_id = queue.submit(JobSpec(paths=["/x"]))
    for _ in range(MAX_ATTEMPTS):
        queue.claim(_dead_owner())
        queue.recover()
    status = queue.get(job_id)
    assert status.state == JobState.FAILED and "died" in (status.error or "")


def test_worker_runs_a_paths_job_to_done(services, queue: JobQueue, folder: Path) -> None:
    captioned_folder(folder, 5)
    (folder / "broken.png").write_bytes(b"")
    job_id = queue.submit(JobSpec(paths=[str(folder)], batch_size=2))
    worker = IngestWorker(services, queue)
    assert worker.run_once() == job_id and worker.run_once() is None
    status = queue.get(job_id)
    assert status.state == JobState.DONE and status.report is not None
    assert (status.progress.seen, status.progress.written, status.progress.failed) == (6, 5, 1)
    assert status.report["failures"][0]["reason"] == "empty file (0 bytes)"
    check_invariants(services.store, 5)


def test_a_failing_job_records_its_error(services, queue: JobQueue, tmp_path: Path) -> None:
    job_id = queue.submit(JobSpec(paths=[str(tmp_path / "missing")]))
    IngestWorker(services, queue).run_once()
    status = queue.get(job_id)
    assert status.state == JobState.FAILED and "does not exist" in (status.error or "")


def test_stopping_requeues_the_running_job_and_a_restart_finishes_it(
    services, queue: JobQueue, folder: Path
) -> None:
    captioned_folder(folder, 3)
    job_id = queue.submit(JobSpec(paths=[str(folder)]))
    stopping = IngestWorker(services, queue)
    stopping.request_stop()
    stopping.run_once()
    assert queue.get(job_id).state == JobState.QUEUED
    IngestWorker(services, queue).run_once()
    assert queue.get(job_id).state == JobState.DONE
    check_invariants(services.store, 3)


def test_cancel(services, queue: JobQueue, folder: Path) -> None:
    captioned_folder(folder, 4)
    queued = queue.submit(JobSpec(paths=[str(folder)]))
    assert queue.cancel(queued).state == JobState.CANCELLED
    running = queue.submit(JobSpec(paths=[str(folder)], batch_size=1))
    worker = IngestWorker(services, queue)
    job = queue.claim(worker.owner)
    assert job is not None and job.id == running
    assert queue.cancel(running).cancel_requested
    worker._run(job)  # the cancel is noticed after the first batch
    status = queue.get(running)
    assert status.state == JobState.CANCELLED and status.progress.written < 4


def test_background_worker_and_other_collections(services, queue: JobQueue, folder: Path) -> None:
    captioned_folder(folder, 2)
    job_id = queue.submit(JobSpec(paths=[str(folder)], collection="second"))
    worker = IngestWorker(services, queue, poll_interval_s=0.1)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while queue.get(job_id).state != JobState.DONE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queue.get(job_id).state == JobState.DONE
        assert services.store_for("second").count() == 2
    finally:
        worker.stop()
    assert services.store.count() == 0


def test_uploads_are_checked_saved_and_ingested(services, queue: JobQueue) -> None:
    good = image_bytes(1, "PNG")
    staged = stage_uploads(
        [
            Upload(image=good, text="a cat", filename="C:\\pics\\cat.png", external_id="cat"),
            Upload(image=b"not an image", filename="bad.jpg"),
            Upload(text="just words", metadata={"lang": "en"}),
            Upload(text="   "),
            Upload(image=good, filename="again.png"),
        ],
        services.settings,
    )
    assert [(e.index, e.source) for e in staged.rejected] == [(1, "bad.jpg"), (3, "upload #3")]
    assert "not a supported image" in staged.rejected[0].reason
    saved = sorted(p for p in uploads_dir(services.settings.data_dir).rglob("*") if p.is_file())
    assert len(saved) == 1 and saved[0].suffix == ".png"
    job_id = queue.submit(JobSpec.for_uploads(staged.items))
    IngestWorker(services, queue).run_once()
    assert queue.get(job_id).progress.written == 3
    payloads = {p.payload[keys.SOURCE]: p.payload for p in all_points(services.store)}
    assert payloads["cat.png"][keys.IMAGE_PATH] == str(saved[0].resolve())
    assert payloads["cat.png"][keys.EXTERNAL_ID] == "cat"
    assert payloads["text"][keys.METADATA] == {"lang": "en"}
    assert {p[keys.SOURCE_ROOT] for p in payloads.values()} == {UPLOAD_ROOT}


def test_heartbeat_thread_survives_a_raw_sqlite_error(queue: JobQueue) -> None:
    job_id = queue.submit(JobSpec(paths=["/x"]))
    queue.claim("me")
    beats: list[str] = []

    def flaky(job: str, owner: str, progress: object = None) -> bool:
        beats.append(job)
        if len(beats) == 1:
            raise sqlite3.OperationalError("database is locked")
        return False

    queue.heartbeat = flaky  # type: ignore[method-assign]
    with _Heartbeat(queue, job_id, "me", interval_s=0.01) as beat:
        deadline = time.monotonic() + 5
        while len(beats) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert beat._thread.is_alive()
    assert len(beats) >= 3


def test_only_the_owner_ends_releases_or_beats_for_a_job(queue: JobQueue) -> None:
    job_id = queue.submit(JobSpec(paths=["/x"]))
    queue.claim("old")
    assert queue.release(job_id, "old")
    queue.claim("new")
    report = {"seen": 1, "written": 1, "failures": []}
    assert not queue.finish(job_id, "old", report)
    assert not queue.fail(job_id, "old", "late")
    assert not queue.release(job_id, "old")
    assert queue.heartbeat(job_id, "old")  # the old worker is told to stop
    status = queue.get(job_id)
    assert status.state == JobState.RUNNING and status.progress.seen == 0
    assert not queue.heartbeat(job_id, "new")
    assert queue.finish(job_id, "new", report)
    assert queue.get(job_id).state == JobState.DONE


def test_recover_leaves_a_job_claimed_again_meanwhile(
    queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = queue.submit(JobSpec(paths=["/x"]))
    dead = _dead_owner()
    queue.claim(dead)
    real_release = queue.release

    def release_after_a_reclaim(job: str, owner: str) -> bool:
        real_release(job, owner)  # another worker recovers it first and claims it
        queue.claim("fresh")
        return real_release(job, owner)

    monkeypatch.setattr(queue, "release", release_after_a_reclaim)
    assert queue.recover() == []
    status = queue.get(job_id)
    assert status.state == JobState.RUNNING and status.attempts == 2


def test_a_job_whose_every_item_failed_ends_failed(services, queue: JobQueue, folder: Path) -> None:
    (folder / "a.png").write_bytes(b"")
    (folder / "b.png").write_bytes(b"not a png")
    job_id = queue.submit(JobSpec(paths=[str(folder)]))
    IngestWorker(services, queue).run_once()
    status = queue.get(job_id)
    assert status.state == JobState.FAILED and status.progress.failed == 2
    assert "every item failed (2)" in (status.error or "")


def test_a_job_database_from_before_tenants_lists_jobs_per_tenant(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before jobs had a tenant column
        db.execute(
            "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
            " state TEXT NOT NULL, spec TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT,"
            " finished_at TEXT, heartbeat_at REAL, owner TEXT, progress TEXT, report TEXT,"
            " error TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
            " cancel_requested INTEGER NOT NULL DEFAULT 0)"
        )
        for job_id, tenant in (("old-a", "a"), ("old-none", None)):
            spec = JobSpec(paths=["/srv"], tenant=tenant).model_dump_json()
            db.execute(
                "INSERT INTO jobs (id, state, spec, created_at) VALUES (?, 'done', ?, ?)",
                (job_id, spec, "2026-01-01T00:00:00+00:00"),
            )
    queue = JobQueue(path)
    new = queue.submit(JobSpec(paths=["/srv"], tenant="a"))
    assert [job.id for job in queue.jobs(tenant="a")] == [new, "old-a"]
    assert [job.id for job in queue.jobs(tenant="b")] == []
    assert len(queue.jobs()) == 3
    assert len(JobQueue(path).jobs()) == 3  # opening it again changes nothing

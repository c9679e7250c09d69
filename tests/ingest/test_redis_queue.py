"""The Redis queue in one process: jobs split into tasks, progress and reports summed, cancel,
all-failed jobs, a task that fails on every try, lists per tenant, the same job API as
SQLite; retries, dead letters and retry jobs."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import ingest.reading
import ingest.retries
from ingest.dead_letters import dead_letters, failed_as_a_whole, retry_spec
from ingest.redis_queue import RedisJobs, RedisWorker
from ingest.specs import JobSpec, JobState, JobStatus
from ingest.uploads import Upload, stage_uploads
from rag.config import QueueSettings
from rag.errors import ConfigError, InvalidInputError, NotFoundError
from rag.safe_open import _refusal
from rag.services import Services
from tests.ingest.checks import check_invariants
from tests.ingest.draw import captioned_folder, image_bytes


@pytest.fixture
def services(make_services, redis_url: str) -> Services:
    made = make_services(task_items=3, batch_size=2)
    made.settings.queue = QueueSettings(url=redis_url, heartbeat_timeout_s=2)
    return made


@pytest.fixture
def jobs(services: Services) -> Iterator[RedisJobs]:
    queue = RedisJobs(services.settings.queue)
    yield queue
    queue.close()


@pytest.fixture
def worker(services: Services) -> Iterator[RedisWorker]:
    running = RedisWorker(services)
    yield running
    running.stop(timeout_s=10)


def wait_ended(jobs: RedisJobs, job_id: str, timeout_s: float = 60) -> JobStatus:
    deadline = time.monotonic() + timeout_s
    while (job := jobs.get(job_id)).state not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job still {job.state}: {job.progress}"
        time.sleep(0.05)
    return job


def test_a_job_runs_as_tasks_and_sums_their_reports(
    services: Services, jobs: RedisJobs, worker: RedisWorker, folder: Path
) -> None:
    captioned_folder(folder, 10)
    (folder / "broken.png").write_bytes(b"")
    job_id = jobs.submit(JobSpec(paths=[str(folder)]))
    assert jobs.get(job_id).state == JobState.QUEUED
    worker.start()
    job = wait_ended(jobs, job_id)
    assert job.state == JobState.DONE and job.tasks == 4  # 11 items, 3 per task
    assert (job.progress.seen, job.progress.written, job.progress.failed) == (11, 10, 1)
    assert job.report is not None and job.report["failures"][0]["reason"] == "empty file (0 bytes)"
    assert [j.id for j in jobs.jobs()] == [job_id]
    assert not jobs.redis.keys(f"mmrag:job:{job_id}:task:*")  # finished tasks drop their items
    check_invariants(services.store, 10)


def test_cancel_drops_pending_tasks(
    services: Services, jobs: RedisJobs, worker: RedisWorker, folder: Path
) -> None:
    captioned_folder(folder, 6)
    job_id = jobs.submit(JobSpec(paths=[str(folder)]))
    assert jobs.cancel(job_id).state == JobState.CANCELLED
    later = jobs.submit(JobSpec(paths=[str(folder)]))
    worker.start()
    assert wait_ended(jobs, later).state == JobState.DONE
    assert jobs.get(job_id).state == JobState.CANCELLED and jobs.get(job_id).progress.seen == 0
    assert jobs.jobs(state=JobState.CANCELLED)[0].id == job_id


def test_a_job_whose_every_item_failed_ends_failed(
    jobs: RedisJobs, worker: RedisWorker, folder: Path, tmp_path: Path
) -> None:
    (folder / "a.png").write_bytes(b"")
    (folder / "b.png").write_bytes(b"nope")
    failing = jobs.submit(JobSpec(paths=[str(folder)]))
    missing = jobs.submit(JobSpec(paths=[str(tmp_path / "missing")]))
    worker.start()
    job = wait_ended(jobs, failing)
    assert job.state == JobState.FAILED and "every item failed (2)" in (job.error or "")
    assert "does not exist" in (wait_ended(jobs, missing).error or "")


def test_unknown_jobs_prune_and_bad_urls(jobs: RedisJobs) -> None:
    with pytest.raises(NotFoundError):
        jobs.get("nope")
    with pytest.raises(InvalidInputError, match="prune"):
        jobs.submit(JobSpec(paths=["/x"], prune=True))
    with pytest.raises(ConfigError, match="MMRAG_QUEUE__URL"):
        RedisJobs(QueueSettings(url="http://localhost:6379"))
    with pytest.raises(ConfigError, match="cannot reach"):
        RedisJobs(QueueSettings(url="redis://127.0.0.1:1/0")).get("x")


def test_a_task_that_always_fails_ends_its_job_failed_and_deletes_its_upload(
    services: Services,
    jobs: RedisJobs,
    worker: RedisWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staged = stage_uploads([Upload(image=image_bytes(5), text="doomed")], services.settings, "a")
    (path,) = [Path(str(item.image_path)) for item in staged.items]
    job_id = jobs.submit(JobSpec.for_uploads(staged.items, tenant="a"))

    def connection_lost(*args: object) -> None:
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(worker.jobs, "running", connection_lost)  # every try of the task fails
    worker.start()
    job = wait_ended(jobs, job_id, timeout_s=30)
    assert job.state == JobState.FAILED, job
    assert job.error == (
        "task 0 failed 4 times; the last error: ConnectionError: Connection reset by peer"
    )
    deadline = time.monotonic() + 10  # the worker deletes it right after it ends the job
    while path.exists():
        assert time.monotonic() < deadline, "the failed job's staged upload is still there"
        time.sleep(0.05)


def test_jobs_are_listed_per_tenant(jobs: RedisJobs) -> None:
    mine = jobs.submit(JobSpec(paths=["/srv/a"], tenant="a"))
    theirs = [jobs.submit(JobSpec(paths=[f"/srv/b{n}"], tenant="b")) for n in range(5)]
    assert [job.id for job in jobs.jobs(limit=1, tenant="a")] == [mine]
    assert [job.id for job in jobs.jobs(tenant="b")] == theirs[::-1]
    assert len(jobs.jobs()) == 6


def test_retries_and_a_retry_of_the_dead_letters_on_redis(
    services: Services,
    jobs: RedisJobs,
    worker: RedisWorker,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest.retries, "BACKOFF_S", 0.01)
    captioned_folder(folder, 5)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"corrupt" * 20)
    real, tries = ingest.reading.read_confined, []

    def flaky(path: Path, *args: object, **kwargs: object) -> bytes:  # twice an I/O error
        tries.append(path.name)
        if path.name == "img001.png" and tries.count("img001.png") <= 2:
            raise _refusal(OSError(errno.EIO, os.strerror(errno.EIO)), path)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest.reading, "read_confined", flaky)
    worker.start()
    job = wait_ended(jobs, jobs.submit(JobSpec(paths=[str(folder)], source="shelf")))
    assert job.state == JobState.DONE and job.report is not None and job.tasks == 2
    assert (job.report["written"], job.report["failed"], job.report["retries"]) == (5, 1, 2)
    letters = dead_letters(job)
    assert [f["source"].rsplit("/", 1)[-1] for f in letters.failures] == ["broken.png"]
    assert (letters.source, letters.failures[0]["attempts"]) == ("shelf", 1)

    tries.clear()
    again = wait_ended(jobs, jobs.submit(retry_spec(job)))
    assert again.tasks == 1 and (again.progress.seen, again.progress.failed) == (1, 1)
    assert tries == ["broken.png"]  # only the dead letter was read again
    check_invariants(services.store, 5)


def test_a_job_that_failed_as_a_whole_on_redis_is_retried_whole(
    services: Services,
    jobs: RedisJobs,
    worker: RedisWorker,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captioned_folder(folder, 4)
    real = worker.jobs.running

    def lost_on_task_0(job_id: str, index: int, owner: str) -> None:
        if index == 0:
            raise redis.ConnectionError("Connection reset by peer")
        real(job_id, index, owner)

    monkeypatch.setattr(worker.jobs, "running", lost_on_task_0)
    worker.start()
    failed = wait_ended(jobs, jobs.submit(JobSpec(paths=[str(folder)])))
    assert failed.state == JobState.FAILED and failed_as_a_whole(failed)
    monkeypatch.setattr(worker.jobs, "running", real)
    spec = retry_spec(failed)
    assert spec.only is None and spec.retry_of == failed.id
    done = wait_ended(jobs, jobs.submit(spec))
    assert done.state == JobState.DONE and done.progress.seen == 4
    check_invariants(services.store, 4)

"""Retries with backoff and dead letters: a transient failure is tried again (counted), a
permanent one (a corrupt file) fails at once, what still fails is listed with its tries, and a
retry job runs only that again; a job that failed as a whole is run again whole."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ingest.reading
import ingest.retries
from ingest.dead_letters import dead_letters, failed_as_a_whole, retry_spec
from ingest.jobs import MAX_ATTEMPTS, JobQueue
from ingest.metrics import RETRIES, record_report
from ingest.retries import GaveUp, Retrier, is_transient
from ingest.runner import ingest_paths
from ingest.specs import JobSpec, JobState
from ingest.worker import IngestWorker
from rag import payload as keys
from rag.errors import (
    ConflictError,
    EmbeddingTimeoutError,
    EmbeddingUnavailableError,
    InvalidInputError,
    StorageFullError,
    StoreError,
)
from rag.safe_open import TransientReadError, _refusal
from tests.ingest.checks import check_invariants
from tests.ingest.conftest import ServicesFactory
from tests.ingest.draw import captioned_folder, save

CORRUPT = b"\x89PNG\r\n\x1a\n" + b"not a picture at all" * 8


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest.retries, "BACKOFF_S", 0.01)


def flaky_reads(monkeypatch: pytest.MonkeyPatch, name: str, failures: int | None) -> list[str]:
    """Reading the file ``name`` fails with an I/O error (as a flaky network mount gives) its
    first ``failures`` times (``None``: always); returns the names read, tries included."""
    real = ingest.reading.read_confined
    tries: list[str] = []

    def read(path: Path, *args: object, **kwargs: object) -> bytes:
        tries.append(path.name)
        if path.name == name and (failures is None or tries.count(name) <= failures):
            raise _refusal(OSError(errno.EIO, os.strerror(errno.EIO)), path)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest.reading, "read_confined", read)
    return tries


def _dead_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}|{child.pid}|gone|worker"


def test_errors_are_sorted_into_transient_and_permanent() -> None:
    assert is_transient(TimeoutError()) and is_transient(ConnectionRefusedError())
    assert is_transient(StoreError("the Qdrant server is away"))
    assert is_transient(TransientReadError("x: Input/output error"))
    assert not is_transient(InvalidInputError("not an image"))
    assert not is_transient(PermissionError(errno.EACCES, "Permission denied"))
    assert not is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_transient(StorageFullError("full"))
    assert not is_transient(KeyError("a bug"))
    assert is_transient(EmbeddingUnavailableError("the server is down", retry_after=5.0))
    assert is_transient(EmbeddingTimeoutError("no vectors in 60 s"))
    assert not is_transient(EmbeddingUnavailableError("HTTP 404: set MMRAG_PASSAGE__MODEL"))


def test_the_retrier_waits_longer_each_time_and_gives_up_after_its_retries() -> None:
    retry, calls = Retrier(retries=2), []

    def always() -> None:
        calls.append(time.monotonic())
        raise ConnectionResetError("reset")

    with pytest.raises(GaveUp) as caught:
        retry.attempt(always)
    assert caught.value.attempts == 3 and caught.value.transient and retry.retried == 2
    first, second = calls[1] - calls[0], calls[2] - calls[1]
    assert first >= 0.01 and second >= 0.02


def test_a_stop_request_ends_the_waiting() -> None:
    def slow() -> None:
        raise TimeoutError("slow")

    with pytest.raises(GaveUp) as caught:
        Retrier(retries=5, should_stop=lambda: True).attempt(slow)
    assert caught.value.attempts == 1


def test_an_item_that_fails_twice_then_succeeds_is_ingested_with_its_retries_counted(
    services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned_folder(folder, 4)
    tries = flaky_reads(monkeypatch, "img001.png", failures=2)
    report = ingest_paths(services, [folder])
    assert (report.seen, report.written, report.failed, report.retries) == (4, 4, 0, 2)
    assert tries.count("img001.png") == 3
    before = RETRIES._value.get()
    record_report(report.to_dict())
    assert RETRIES._value.get() - before == 2
    check_invariants(services.store, 4)


def test_an_item_whose_error_does_not_pass_fails_after_its_tries(
    services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned_folder(folder, 3)
    tries = flaky_reads(monkeypatch, "img002.png", failures=None)
    report = ingest_paths(services, [folder])
    assert (report.written, report.failed, report.retries) == (2, 1, 2)
    [failure] = report.failures
    assert failure.source.endswith("img002.png") and "Input/output error" in failure.reason
    assert (failure.attempts, failure.transient) == (3, True)
    assert tries.count("img002.png") == 3


def test_a_corrupt_file_goes_to_the_dead_letters_at_once(
    services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.retries, "BACKOFF_S", 5.0)  # a retry would show in the time
    captioned_folder(folder, 2)
    (folder / "broken.png").write_bytes(CORRUPT)
    started = time.monotonic()
    report = ingest_paths(services, [folder])
    assert time.monotonic() - started < 5.0
    assert (report.written, report.failed, report.retries) == (2, 1, 0)
    [failure] = report.failures
    assert failure.source.endswith("broken.png") and (failure.attempts, failure.transient) == (
        1,
        False,
    )


def test_a_batch_whose_write_fails_once_is_written_on_the_next_try(
    services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned_folder(folder, 5)
    store_class = type(services.store)
    real, calls = store_class.upsert, []

    def upsert(self, points):  # the store server drops the first write
        calls.append(len(points))
        if len(calls) == 1:
            raise StoreError("the vector store did not answer")
        return real(self, points)

    monkeypatch.setattr(store_class, "upsert", upsert)
    report = ingest_paths(services, [folder])
    assert (report.written, report.failed, report.retries) == (5, 0, 1)
    check_invariants(services.store, 5)


def test_a_batch_whose_store_stays_away_lands_in_the_dead_letters(
    make_services: ServicesFactory, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned_folder(folder, 4)
    services = make_services(batch_size=2)
    store_class = type(services.store)
    real, calls = store_class.upsert, []

    def upsert(self, points):  # the second batch's writes all fail
        calls.append(sorted(p.payload.get(keys.SOURCE, "") for p in points))
        if "img003.png" in calls[-1]:
            raise StoreError("the vector store did not answer")
        return real(self, points)

    monkeypatch.setattr(store_class, "upsert", upsert)
    report = ingest_paths(services, [folder])
    assert (report.written, report.failed, report.retries) == (2, 2, 2)
    assert {f.attempts for f in report.failures} == {3}
    assert all(f.transient and "did not answer" in f.reason for f in report.failures)
    check_invariants(services.store, 2)


def _run(services, queue: JobQueue, spec: JobSpec) -> str:
    job_id = queue.submit(spec)
    assert IngestWorker(services, queue).run_once() == job_id
    return job_id


def test_retry_runs_only_the_failed_items_again(
    services, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = JobQueue(tmp_path / "jobs.sqlite3")
    captioned_folder(folder, 5)
    (folder / "broken.png").write_bytes(CORRUPT)
    first = queue.get(_run(services, queue, JobSpec(paths=[str(folder)], source="photos")))
    letters = dead_letters(first)
    assert first.state == JobState.DONE and not letters.whole_job and letters.retryable
    assert [f["source"].rsplit("/", 1)[-1] for f in letters.failures] == ["broken.png"]
    assert letters.source == "photos" and letters.failures[0]["attempts"] == 1

    tries = flaky_reads(monkeypatch, "-", failures=0)  # counts what is read again
    spec = retry_spec(first)
    assert spec.retry_of == first.id and spec.only == [letters.failures[0]["source"]]
    again = queue.get(_run(services, queue, spec))
    assert again.progress.seen == 1 and again.progress.failed == 1 and tries == ["broken.png"]
    assert dead_letters(again).failures[0]["reason"] == letters.failures[0]["reason"]

    save(folder / "broken.png", 77)  # fixed: the retry of the retry ingests it
    fixed = queue.get(_run(services, queue, retry_spec(again)))
    assert (fixed.state, fixed.progress.seen, fixed.progress.written) == (JobState.DONE, 1, 1)
    assert not dead_letters(fixed).retryable
    with pytest.raises(ConflictError, match="no failed items"):
        retry_spec(fixed)
    check_invariants(services.store, 6)


def test_a_running_job_cannot_be_retried(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "jobs.sqlite3")
    job_id = queue.submit(JobSpec(paths=["/x"]))
    with pytest.raises(ConflictError, match="still queued"):
        retry_spec(queue.get(job_id))


def test_a_job_whose_worker_kept_dying_is_retried_whole(
    services, folder: Path, tmp_path: Path
) -> None:
    queue = JobQueue(tmp_path / "jobs.sqlite3")
    captioned_folder(folder, 3)
    job_id = queue.submit(JobSpec(paths=[str(folder)]))
    for _ in range(MAX_ATTEMPTS):
        queue.claim(_dead_owner())
        queue.recover()
    failed = queue.get(job_id)
    assert failed.state == JobState.FAILED and failed_as_a_whole(failed)
    spec = retry_spec(failed)
    assert spec.only is None and spec.retry_of == job_id
    done = queue.get(_run(services, queue, spec))
    assert (done.state, done.progress.written) == (JobState.DONE, 3)
    check_invariants(services.store, 3)


def test_a_job_that_failed_on_a_full_disk_is_retried_whole_once_there_is_room(
    services, folder: Path, tmp_path: Path
) -> None:
    queue = JobQueue(tmp_path / "jobs.sqlite3")
    captioned_folder(folder, 4)
    store = services.store
    store.min_free_bytes = 1 << 60  # more than any disk has: the store refuses every write
    failed = queue.get(_run(services, queue, JobSpec(paths=[str(folder)], batch_size=2)))
    assert failed.state == JobState.FAILED and "MMRAG_STORE__MIN_FREE_MB" in (failed.error or "")
    letters = dead_letters(failed)
    assert letters.whole_job and letters.retryable and letters.failures == []
    store.min_free_bytes = 0  # space freed
    done = queue.get(_run(services, queue, retry_spec(failed)))
    assert (done.state, done.progress.seen, done.progress.written) == (JobState.DONE, 4, 4)
    check_invariants(services.store, 4)


def test_mmrag_ingest_prints_the_tries(
    tiny_env: dict[str, str], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mmrag_cli.main import app

    captioned_folder(folder, 2)
    flaky_reads(monkeypatch, "img001.png", failures=None)
    monkeypatch.setenv("MMRAG_INGEST__RETRIES", "1")
    result = CliRunner().invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    assert "written 1, unchanged 0, failed 1" in result.stdout
    assert "tries made again after transient errors: 1" in result.stdout
    assert "img001.png: TransientReadError" not in result.stdout  # the reason is the error's own
    assert "Input/output error (after 2 tries)" in result.stdout

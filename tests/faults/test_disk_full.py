"""Disk full: ingest into a small filesystem (a tmpfs) until it runs short. The job fails with a
clear error (the process does not crash), the store opens afterwards with every acknowledged
point, and the job runs to its end once space is freed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.jobs import JobQueue
from ingest.specs import JobSpec, JobState, UploadItem
from ingest.worker import IngestWorker
from rag import identity
from rag.config import Settings
from rag.embedding.base import Embedder
from rag.services import Services
from rag.store.space import MiB, free_bytes
from tests.ingest.checks import check_invariants

DISK_MB = 512
RESERVE_MB = 192
"""Above what Qdrant Edge may map in one go: a 32 MiB WAL segment, ~33 MiB on a shard's first
load with image and text vectors (measured with qdrant-edge-py 0.9), more with the passage and
lexical vectors of the text signals."""
MARGIN_MB = 4
"""How far under the reserve the disk is filled, once the job has written 64 items."""
ITEMS = 400


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {DISK_MB} MB tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _services(settings: Settings, embedder: Embedder) -> Services:
    services = Services(settings)
    services.__dict__["embedder"] = embedder
    return services


def _run_worker_in_child(
    settings: Settings, embedder: Embedder, meanwhile: Callable[[], None] = lambda: None
) -> None:
    """Run one queued job in a forked worker, calling ``meanwhile`` while it runs."""

    def work() -> None:
        services = _services(settings, embedder)
        IngestWorker(services, JobQueue.for_settings(settings)).run_once()
        services.close()

    _in_child(work, meanwhile)


def _in_child(work: Callable[[], None], meanwhile: Callable[[], None] = lambda: None) -> None:
    """Run ``work`` in a forked process, calling ``meanwhile`` while it runs: a crash (SIGBUS on
    a full disk) or a failed assertion there fails the test, and never takes pytest down."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    meanwhile()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise AssertionError(f"the worker died of {signal.Signals(os.WTERMSIG(status)).name}")
    assert os.WEXITSTATUS(status) == 0


def _spec() -> JobSpec:
    text = " ".join(["a long caption about a small red square"] * 100)
    items = [UploadItem(text=f"{i}: {text}", external_id=f"item-{i}") for i in range(ITEMS)]
    return JobSpec.for_uploads(items, policy="overwrite")


def _id(i: int) -> str:
    return identity.point_id("mmrag", identity.item_key(f"item-{i}", ""))


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_full_disk_fails_the_job_keeps_acknowledged_points_and_recovers(
    make_settings, tiny_embedder: Embedder, small_disk: Path
) -> None:
    settings = make_settings(small_disk / "data", store={"min_free_mb": RESERVE_MB})
    for _ in range(2):  # create the collection, then load it once, before the disk fills up
        services = _services(settings, tiny_embedder)
        services.store.count()
        services.close()
    queue = JobQueue.for_settings(settings)
    job_id = queue.submit(_spec())
    filler = small_disk / "filler"

    def fill_the_disk_midway() -> None:
        deadline = time.monotonic() + 120
        while queue.get(job_id).progress.written < 64:
            assert time.monotonic() < deadline, queue.get(job_id)
            time.sleep(0.01)
        filler.write_bytes(b"\0" * (free_bytes(small_disk) - (RESERVE_MB - MARGIN_MB) * MiB))

    _run_worker_in_child(settings, tiny_embedder, fill_the_disk_midway)
    job = queue.get(job_id)
    assert job.state == JobState.FAILED, job
    assert "MMRAG_STORE__MIN_FREE_MB" in (job.error or ""), job.error
    acknowledged = job.progress.written
    assert 0 < acknowledged < ITEMS, (job.progress, job.error)

    def acknowledged_points_are_stored() -> None:  # the disk is still full: open in a child
        services = _services(settings, tiny_embedder)
        stored = {p.id for p in check_invariants(services.store, services.store.count())}
        assert {_id(i) for i in range(acknowledged)} <= stored
        services.close()

    _in_child(acknowledged_points_are_stored)

    filler.unlink()
    again = queue.submit(_spec())
    _run_worker_in_child(settings, tiny_embedder)
    assert queue.get(again).state == JobState.DONE, queue.get(again)
    services = _services(settings, tiny_embedder)
    points = check_invariants(services.store, ITEMS)
    assert {p.id for p in points} == {_id(i) for i in range(ITEMS)}
    services.close()

"""Three worker processes on one Redis queue; one is killed with SIGKILL in the middle of a task.

How the workers share the store: through one real Qdrant Edge store served by a fourth process
(:mod:`tests.ingest.shared_store`), the stand-in for the Qdrant server of a real deployment
(Edge and qdrant-client's local mode hold their folder for one process; no Qdrant server can run
here). The queue, the workers and the models are the real ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.redis_queue import RedisJobs
from ingest.specs import JobSpec, JobState
from rag.config import QueueSettings
from tests.conftest import free_port
from tests.ingest.draw import captioned_folder
from tests.ingest.shared_store import RemoteStore

ITEMS = 300
TASK_ITEMS = 25


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.mark.slow
def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(
    tiny_env: dict[str, str], redis_url: str, tmp_path: Path, tiny_embedder
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "MMRAG_QUEUE__URL": redis_url,
        "MMRAG_QUEUE__HEARTBEAT_TIMEOUT_S": "2",
        "MMRAG_INGEST__TASK_ITEMS": str(TASK_ITEMS),
        "MMRAG_INGEST__BATCH_SIZE": "5",
        "MMRAG_INGEST__DECODE_WORKERS": "1",
    }
    store_dir = str(tmp_path / "store")
    args = ["-m", "tests.ingest.shared_store", store_dir, str(port), str(tiny_embedder.dim)]
    server = _start(args, env, tmp_path / "store.log")
    workers: list[subprocess.Popen[bytes]] = []
    jobs = RedisJobs(QueueSettings(url=redis_url))
    try:
        workers = [
            _start(["-m", "tests.ingest.redis_worker", str(port)], env, tmp_path / f"w{n}.log")
            for n in range(3)
        ]  # they start (import torch, build the model) while the folder is drawn
        folder = captioned_folder(tmp_path / "photos", ITEMS)
        _wait_for_port(port, server)
        job_id = jobs.submit(JobSpec(paths=[str(folder)]))
        victim, task = _kill_one_mid_task(jobs, job_id, workers)
        job = _wait_ended(jobs, job_id, timeout_s=120)
        assert job.state == JobState.DONE and job.tasks == ITEMS // TASK_ITEMS
        report = job.report or {}
        assert (report["seen"], report["failed"]) == (ITEMS, 0)
        assert report["written"] + report["unchanged"] == ITEMS
        assert report["unchanged"] > 0  # the killed task ran again: its first items were there
        assert victim.wait(5) == -signal.SIGKILL
        assert int(jobs.runners(job_id)[task].split("|")[1]) != victim.pid
        store = RemoteStore(port)
        ids = [p.id for p in store.scroll(limit=10 * ITEMS)[0]]
        sources = sorted(p.payload["source"] for p in store.scroll(limit=10 * ITEMS)[0])
        assert len(ids) == len(set(ids)) == ITEMS
        assert sources == sorted(f"img{n:03d}.png" for n in range(ITEMS))
    finally:
        for process in [*workers, server]:
            process.kill()
            process.wait(10)
        jobs.close()


def _kill_one_mid_task(
    jobs: RedisJobs, job_id: str, workers: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], int]:
    """SIGKILL the worker of a task that has seen some but not all of its items."""
    by_pid = {w.pid: w for w in workers}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        progress = jobs.task_progress(job_id)
        for task, owner in jobs.runners(job_id).items():
            pid = int(owner.split("|")[1])
            seen = progress[task].seen if task in progress else 0
            if 3 <= seen <= TASK_ITEMS - 5 and pid in by_pid:
                os.kill(pid, signal.SIGKILL)
                return by_pid[pid], task
        time.sleep(0.01)
    raise AssertionError("no task was seen running")


def _wait_ended(jobs: RedisJobs, job_id: str, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while (job := jobs.get(job_id)).state in (JobState.QUEUED, JobState.RUNNING):
        assert time.monotonic() < deadline, f"job still {job.state}: {job.progress}"
        time.sleep(0.1)
    return job


def _wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "the store server died"
        try:
            RemoteStore(port)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the store server did not start")

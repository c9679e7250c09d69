"""Syncs on the Redis queue with two worker processes sharing the tasks; one is killed with
SIGKILL mid-sync, and the next sync ends with exactly the bucket's objects (see
tests/ingest/test_redis_workers.py for how the workers share one store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from ingest.redis_queue import RedisJobs
from ingest.specs import JobSpec, JobState
from ingest.sync.manage import source_root
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry
from rag.config import QueueSettings, load_settings
from tests.conftest import free_port
from tests.ingest.draw import image_bytes
from tests.ingest.shared_store import RemoteStore
from tests.ingest.sync.conftest import BUCKET
from tests.ingest.test_redis_workers import _start, _wait_ended, _wait_for_port

OBJECTS = 60
TASK_ITEMS = 6


@pytest.mark.slow
def test_two_workers_share_a_sync_and_a_killed_one_leaves_nothing_half_done(
    tiny_env: dict[str, str], redis_url: str, s3: dict[str, str], tmp_path: Path, tiny_embedder
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        "MMRAG_QUEUE__URL": redis_url,
        "MMRAG_QUEUE__HEARTBEAT_TIMEOUT_S": "2",
        "MMRAG_INGEST__TASK_ITEMS": str(TASK_ITEMS),
        "MMRAG_INGEST__BATCH_SIZE": "2",
        "MMRAG_INGEST__DECODE_WORKERS": "1",
    }
    args = ["-m", "tests.ingest.shared_store", str(tmp_path / "store"), str(port)]
    server = _start([*args, str(tiny_embedder.dim)], env, tmp_path / "store.log")
    workers = [
        _start(["-m", "tests.ingest.redis_worker", str(port)], env, tmp_path / f"w{n}.log")
        for n in range(2)
    ]
    jobs = RedisJobs(QueueSettings(url=redis_url))
    client = boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=s3["id"],
        aws_secret_access_key=s3["secret"],
    )
    try:
        for n in range(OBJECTS):
            client.put_object(Bucket=BUCKET, Key=f"p/img{n:03d}.png", Body=image_bytes(n))
        secrets = tmp_path / "s3.json"
        secrets.write_text(
            json.dumps({"aws_access_key_id": s3["id"], "aws_secret_access_key": s3["secret"]})
        )
        settings = load_settings()
        config = SourceConfig(
            name="pics",
            kind="s3",
            location=f"s3://{BUCKET}/p/",
            endpoint_url=s3["endpoint"],
            region="us-east-1",
            secrets_file=str(secrets),
        )
        SourceRegistry.for_settings(settings).add(config)
        _wait_for_port(port, server)
        first = jobs.submit(JobSpec.for_source("pics", None, None))
        victim = _kill_one_mid_task(jobs, first, workers)
        assert _wait_ended(jobs, first, timeout_s=180).state == JobState.DONE
        assert victim.wait(5) == -signal.SIGKILL
        client.delete_object(Bucket=BUCKET, Key="p/img000.png")
        client.put_object(Bucket=BUCKET, Key="p/new.png", Body=image_bytes(999))
        second = jobs.submit(JobSpec.for_source("pics", None, None))
        job = _wait_ended(jobs, second, timeout_s=120)
        assert job.state == JobState.DONE and (job.report or {})["failed"] == 0
        assert (job.report or {})["written"] == 1  # the new object only
        _wait_for(lambda: _sources(port, source_root(settings, config)) == _bucket(client))
        state = SourceRegistry.for_settings(settings).get("pics").state
        assert state.error is None and state.deleted == 1
    finally:
        for process in [*workers, server]:
            process.kill()
            process.wait(10)
        jobs.close()


def _bucket(client) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="p/")["Contents"]
    return sorted(entry["Key"].removeprefix("p/") for entry in listed)


def _sources(port: int, root: str) -> list[str]:
    points = [p for p in RemoteStore(port).scroll(limit=10 * OBJECTS)[0]]
    ids = [p.id for p in points]
    assert len(ids) == len(set(ids))
    return sorted(p.payload["source"] for p in points if p.payload["source_root"] == root)


def _wait_for(check, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _kill_one_mid_task(
    jobs: RedisJobs, job_id: str, workers: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """SIGKILL the worker of a task that has seen some but not all of its items."""
    by_pid = {w.pid: w for w in workers}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        progress = jobs.task_progress(job_id)
        for task, owner in jobs.runners(job_id).items():
            pid = int(owner.split("|")[1])
            seen = progress[task].seen if task in progress else 0
            if 1 <= seen < TASK_ITEMS and pid in by_pid:
                os.kill(pid, signal.SIGKILL)
                return by_pid[pid]
        time.sleep(0.01)
    raise AssertionError("no task was seen running")

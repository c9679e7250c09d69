"""Queue benchmark: items/s through the Redis queue with 1 and 2 worker processes against the
in-process ingest of the same items, and the latency from submit to the first progress.

A real ``redis-server`` is started on a loopback port (Debian's package). The workers are
``python -m ingest`` processes (``MMRAG_QUEUE__URL``), each with one torch thread, as is the
in-process run. The overhead per item compares CPU seconds per item (robust to other load on a
shared machine); wall-clock rates are printed too. With no Qdrant server here, each worker
writes its own embedded Qdrant Edge store (the same upserts a shared server would take); timing
starts once every worker is warm (its model built, its Dramatiq heartbeat seen). Target: queue
overhead <= 10 % per item.

    python -m bench.queue                    # 256 photos, ViT-B-32 architecture (random weights)
    python -m bench.queue --quick            # 256 photos, the tiny model
    python -m bench.queue --items 1024 --task-items 256
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.ingest import make_folder
from ingest.redis_queue import RedisJobs
from ingest.runner import run_job
from ingest.specs import JobSpec, JobState
from rag.config import QueueSettings, load_settings
from rag.services import Services

TARGET_OVERHEAD = 0.10


@dataclass
class Run:
    """One ingest of the folder: wall and CPU time (every thread of the ingesting processes),
    and the time to the first progress."""

    items: int
    wall_s: float
    cpu_s: float
    first_progress_s: float | None = None

    @property
    def per_s(self) -> float:
        return self.items / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.items / self.cpu_s


def in_process(env: dict[str, str], folder: Path, data: Path) -> Run:
    """The ingest a single process runs (``mmrag ingest``), no queue."""
    settings = load_settings(**_settings_of(env), data_dir=data)
    services = Services(settings)
    services.embedder.warm_up()
    _ = services.store
    started, cpu = time.perf_counter(), time.process_time()
    report = run_job(services, JobSpec(paths=[str(folder)]))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    services.close()
    return Run(report.seen, wall, cpu)


def through_queue(env: dict[str, str], folder: Path, work: Path, workers: int, url: str) -> Run:
    """The same folder as one job on the Redis queue, taken by ``workers`` processes."""
    namespace = f"bench{workers}"
    jobs = RedisJobs(QueueSettings(url=url, namespace=namespace))
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "ingest"],
            env={
                **env,
                "MMRAG_QUEUE__URL": url,
                "MMRAG_QUEUE__NAMESPACE": namespace,
                "MMRAG_DATA_DIR": str(work / f"{namespace}-worker{n}"),
            },
        )
        for n in range(workers)
    ]
    try:
        _wait_warm(url, f"{namespace}-dramatiq", workers, processes)
        cpu = sum(_cpu_s(p.pid) for p in processes)
        started = time.perf_counter()
        job_id = jobs.submit(JobSpec(paths=[str(folder)]))
        first = None
        while (job := jobs.get(job_id)).state in (JobState.QUEUED, JobState.RUNNING):
            if first is None and job.progress.seen:
                first = time.perf_counter() - started
            time.sleep(0.005 if first is None else 0.05)
        wall = time.perf_counter() - started
        cpu = sum(_cpu_s(p.pid) for p in processes) - cpu
        assert job.state == JobState.DONE, job.error
        return Run(job.progress.seen, wall, cpu, first)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)
        jobs.close()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_warm(url: str, namespace: str, count: int, processes: list) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 300
    while client.zcard(f"{namespace}:__heartbeats__") < count:
        if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
            raise RuntimeError("a worker did not start")
        time.sleep(0.1)


def _settings_of(env: dict[str, str]) -> dict:
    return {
        "clip": {"model": env["MMRAG_CLIP__MODEL"], "pretrained": "", "threads": 1},
        "ingest": {"task_items": int(env["MMRAG_INGEST__TASK_ITEMS"])},
        "rerank": {"model": "none"},
        "llm": {"backend": "extractive"},
    }


def _redis(work: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(work)]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            return server, url
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny model")
    parser.add_argument("--items", type=int)
    parser.add_argument("--model", help="CLIP architecture (random weights)")
    parser.add_argument("--task-items", type=int, help="items per task (default: a quarter)")
    args = parser.parse_args()
    items = args.items or 256
    model = args.model or ("mmrag-tiny" if args.quick else "ViT-B-32")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMRAG_")}
    env.update(
        MMRAG_CLIP__MODEL=model,
        MMRAG_CLIP__PRETRAINED="",
        MMRAG_CLIP__THREADS="1",
        MMRAG_RERANK__MODEL="none",
        MMRAG_LLM__BACKEND="extractive",
        MMRAG_INGEST__TASK_ITEMS=str(args.task_items or max(items // 4, 1)),
        MMRAG_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = make_folder(work / "photos", items)
        server, url = _redis(work)
        try:
            base = in_process(env, folder, work / "inprocess")
            one = through_queue(env, folder, work, 1, url)
            two = through_queue(env, folder, work, 2, url)
        finally:
            server.terminate()
            server.wait(10)
    overhead = base.per_cpu_s / one.per_cpu_s - 1
    print(f"{items} photos, {model}, tasks of {env['MMRAG_INGEST__TASK_ITEMS']} items, 1 thread")
    print("                         items/s   items/CPU-s")
    for label, run in (("in-process ingest", base), ("Redis queue, 1 worker", one)):
        print(f"{label:<24} {run.per_s:7.1f}   {run.per_cpu_s:7.1f}")
    print(f"Redis queue, 2 workers   {two.per_s:7.1f}   {two.per_cpu_s:7.1f}")
    print(
        f"queue overhead per item (CPU): {overhead:+.1%}; wall: {base.per_s / one.per_s - 1:+.1%}"
    )
    print(f"2 workers vs in-process (wall): x{two.per_s / base.per_s:.2f}")
    for label, run in (("1 worker", one), ("2 workers", two)):
        print(f"submit -> first progress ({label}): {run.first_progress_s or 0:.3f} s")
    verdict = "ok" if overhead <= TARGET_OVERHEAD else "over target"
    print(f"target: overhead <= {TARGET_OVERHEAD:.0%}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

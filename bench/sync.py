"""Sync benchmark: what a sync of a source costs when little changed, and how soon a watched
folder's new file is searchable.

1. A folder source of 1,000 objects (photos, each with its caption file) synced once, then again
   unchanged: time, and points written (must be 0).
2. 10 of the 1,000 changed (new captions): the sync's time against a full re-ingest of just
   those 10 items (``policy=overwrite``, warm) - what the sync spends finding them among 1,000.
3. The watcher's latency: ``mmrag serve``'s scheduler (watchfiles, debounce ``--debounce-ms``)
   and its SQLite-queue worker in this process; from a file's write to its point in the store
   that search reads (p50, p95 over ``--writes`` files).

    python -m bench.sync --quick        # the tiny model (a few minutes on 2 cores)
    python -m bench.sync --objects 200 --writes 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.ingest import make_folder
from ingest.jobs import JobQueue
from ingest.runner import run_job
from ingest.specs import JobSpec
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry
from ingest.sync.run import run_sync
from ingest.sync.scheduler import SyncScheduler
from ingest.worker import IngestWorker
from rag import payload as keys
from rag.config import load_settings
from rag.services import Services
from rag.store.base import Filter, MatchValue


def _sync(services: Services, name: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    report = run_sync(services, JobSpec.for_source(name, None, None))
    return time.perf_counter() - started, report.points_written, report.written


def syncs(services: Services, folder: Path, objects: int, changed: int) -> None:
    registry = SourceRegistry.for_settings(services.settings)
    registry.add(SourceConfig(name="bench", kind="folder", location=str(folder), watch=False))
    first_s, first_points, _ = _sync(services, "bench")
    print(f"first sync of {objects} objects: {first_s:.2f} s, {first_points} points written")
    same_s, same_points, _ = _sync(services, "bench")
    print(f"sync of {objects} unchanged objects: {same_s:.2f} s, {same_points} points written")
    names = sorted(folder.glob("*.txt"))[:changed]
    for path in names:
        path.write_text(path.read_text() + " (edited)")
    change_s, change_points, change_items = _sync(services, "bench")
    print(
        f"sync of {objects} objects with {changed} changed: {change_s:.2f} s, "
        f"{change_items} items / {change_points} points written"
    )
    only = folder.parent / "only-changed"
    only.mkdir()
    for path in names:
        shutil.copy(path, only / path.name)
        shutil.copy(path.with_suffix(".jpg"), only / path.with_suffix(".jpg").name)
    spec = JobSpec(paths=[str(only)], collection="bench_only", policy="overwrite")
    run_job(services, spec)  # warm: the collection made, every model loaded
    started = time.perf_counter()
    report = run_job(services, spec)
    alone_s = time.perf_counter() - started
    print(
        f"full re-ingest of those {changed}: {alone_s:.2f} s ({report.points_written} points); "
        f"the sync took {change_s / alone_s:.1f}x that"
    )


def watcher(services: Services, folder: Path, writes: int, debounce_ms: int) -> None:
    registry = SourceRegistry.for_settings(services.settings)
    registry.add(
        SourceConfig(name="watched", kind="folder", location=str(folder), debounce_ms=debounce_ms)
    )
    queue = JobQueue.for_settings(services.settings)
    worker = IngestWorker(services, queue, poll_interval_s=0.05)
    scheduler = SyncScheduler(services.settings, queue, tick_s=0.2)
    worker.start()
    scheduler.start()
    time.sleep(1.0)  # the watcher is up
    store = services.store_for(None)
    latencies = []
    try:
        for i in range(writes):
            name = f"note{i:03d}.txt"
            flt = Filter(must=(MatchValue(keys.SOURCE, name),))
            started = time.perf_counter()
            (folder / name).write_text(f"note number {i} about the watched folder")
            while store.count(flt) == 0:
                if time.perf_counter() - started > 60:
                    raise SystemExit(f"{name} did not arrive within 60 s")
                time.sleep(0.01)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.2)
    finally:
        scheduler.stop()
        worker.stop()
    p95 = sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"watcher (debounce {debounce_ms} ms), write -> in the store, {writes} files: "
        f"p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny model")
    parser.add_argument("--model", help="CLIP architecture (random weights)")
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--debounce-ms", type=int, default=200)
    args = parser.parse_args()
    model = args.model or ("mmrag-tiny" if args.quick else "ViT-B-32")
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-sync-") as tmp:
        work = Path(tmp)
        folder = make_folder(work / "roots" / "photos", args.objects, size=(96, 72))
        watched = work / "roots" / "watched"
        watched.mkdir()
        settings = load_settings(
            data_dir=work / "data",
            clip={"model": model, "pretrained": "", "threads": 1},
            rerank={"model": "none"},
            llm={"backend": "extractive"},
            ocr={"mode": "off"},
            ingest={"roots": [str(work / "roots")]},
        )
        services = Services(settings)
        services.embedder.warm_up()
        try:
            syncs(services, folder, args.objects, args.changed)
            watcher(services, watched, args.writes, args.debounce_ms)
        finally:
            services.close()


if __name__ == "__main__":
    main()

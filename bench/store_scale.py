"""A million points on one machine: Qdrant Edge without and with int8 quantization, one run.

    nice -n 19 python -m bench.store --points 1000000
        # int8 and none (55 min on 2 busy cores, 38 of them none's index build)
    python -m bench.store --points 100000          # the same at 100k (~7 min)
    python -m bench.store --points 100000 --configs int8 --uniform

Figures and what they mean: docs/store.md, "A million points on one machine".

Each point has one 512-d vector (``image``) and a small payload: one vector keeps a million
points within 24 GB and the index build within the hour on 2 cores (a second vector doubles
the load, the index build and the disk; the index build of float32 vectors took 38 min
at 1M here, of int8 codes 8 min). The vectors are synthetic embeddings with structure,
as real ones have: a random 32-d subspace of the 512 dimensions plus noise carrying 10 % of the
energy, normalised (``--uniform``: i.i.d. directions, which have no neighbours worth the name and
are the worst case of every approximate index). They are generated batch by batch from a seed,
never held whole.

Per configuration (``none``: float32 vectors, Edge's default placement; ``int8``: int8 codes in RAM,
originals memory-mapped from disk, rescoring ``oversampling`` x 10 candidates; ``int8-ram``: int8
with the originals in RAM), two fresh processes, so each RAM figure is its own:

- build: upserts through ``EdgeStore.upsert`` (batches of 256), ``flush``, ``optimize`` (segment
  merge + HNSW, m 16, ef_construct 100); reports points/s, optimize seconds, peak RSS, disk;
- serve: opens the shard as a server would, runs the queries (``EdgeStore.search``, limit 10) at
  each ``--ef`` (``hnsw_ef``; default: the engine's, ef_construct 100) and reports p50/p95
  latency, recall@10 against the exact top 10 (numpy over the same vectors, streamed) and RSS
  (anonymous memory vs mapped files).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

DIM = 512
INTRINSIC_DIM = 32
NOISE_ENERGY = 0.10
GEN_BATCH = 4096
UPSERT_BATCH = 256
LIMIT = 10
WARMUP = 20
CONFIGS = {
    "none": ("none", False),
    "int8": ("int8", True),
    "int8-ram": ("int8", False),
}
"""Name -> (quantization, originals on disk)."""


@dataclass(frozen=True)
class Data:
    """The synthetic vectors: batch ``b`` of ``GEN_BATCH`` rows is a function of the seed."""

    points: int
    uniform: bool = False
    seed: int = 0

    def batches(self) -> Iterator[tuple[int, np.ndarray]]:
        for first in range(0, self.points, GEN_BATCH):
            yield first, self.rows(min(GEN_BATCH, self.points - first), first // GEN_BATCH)

    def rows(self, n: int, stream: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stream])
        if self.uniform:
            rows = rng.standard_normal((n, DIM), dtype=np.float32)
        else:
            basis = np.random.default_rng([self.seed, 1 << 30]).standard_normal(
                (INTRINSIC_DIM, DIM), dtype=np.float32
            )
            noise = np.sqrt(INTRINSIC_DIM * NOISE_ENERGY / (1 - NOISE_ENERGY))
            rows = rng.standard_normal((n, INTRINSIC_DIM), dtype=np.float32) @ basis
            rows += noise * rng.standard_normal((n, DIM), dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def queries(self, n: int) -> np.ndarray:
        """Fresh vectors of the same distribution (not points of the collection)."""
        return self.rows(n, stream=1 << 31)


def exact_top(data: Data, queries: np.ndarray, k: int = LIMIT) -> np.ndarray:
    """The indexes of each query's exact top ``k`` by cosine, streamed over the data."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for first, rows in data.batches():
        scores = np.concatenate([best_scores, queries @ rows.T], axis=1)
        ids = np.concatenate(
            [
                best_ids,
                np.broadcast_to(np.arange(first, first + len(rows)), (len(queries), len(rows))),
            ],
            axis=1,
        )
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_ids = np.take_along_axis(ids, keep, axis=1)
    return best_ids


def memory_mb() -> dict[str, float]:
    """This process's peak RSS, RSS, and its anonymous and file-mapped parts, in MB."""
    wanted = {"VmHWM": "peak", "VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            found[wanted[key]] = int(value.split()[0]) / 1024
    return found


class AnonPeak:
    """The peak of this process's anonymous memory (heap: what the page cache cannot take back),
    sampled every 0.2 s while in use; ``VmHWM`` also counts mapped files."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.mb = max(self.mb, memory_mb()["anon"])
            if self._stop.wait(0.2):
                return


def disk_mb(folder: Path) -> float:
    """Space the files under ``folder`` take on disk (allocated blocks), in MB."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        total += sum(os.stat(Path(root) / name).st_blocks * 512 for name in files)
    return total / 2**20


def _store(folder: Path, config: str, oversampling: float) -> Any:
    from rag.store import VectorStorage
    from rag.store.edge import EdgeStore

    quantization, on_disk = CONFIGS[config]
    storage = VectorStorage(quantization, on_disk, oversampling)  # type: ignore[arg-type]
    return EdgeStore(folder / config, "bench", storage=storage)


def build(folder: Path, config: str, data: Data, oversampling: float) -> dict[str, float]:
    """Load ``data`` into a new shard and build its index (run in a fresh process)."""
    with AnonPeak() as anon:
        timings = _load_and_index(_store(folder, config, oversampling), data)
    return timings | {
        "build_peak_mb": memory_mb()["peak"],
        "build_anon_peak_mb": anon.mb,
        "disk_mb": disk_mb(folder / config),
    }


def _load_and_index(store: Any, data: Data) -> dict[str, float]:
    from rag.identity import point_id
    from rag.store import CollectionLayout, PointRecord

    store.ensure_collection(CollectionLayout({"image": DIM}))
    began = time.perf_counter()
    for first, rows in data.batches():
        for start in range(0, len(rows), UPSERT_BATCH):
            store.upsert(
                [
                    PointRecord(
                        point_id("bench", str(n)),
                        {"image": rows[n - first]},
                        {"source": f"item-{n}.jpg", "n": n},
                    )
                    for n in range(first + start, first + min(start + UPSERT_BATCH, len(rows)))
                ]
            )
    store.flush()
    loaded = time.perf_counter()
    store.optimize()
    optimized = time.perf_counter()
    store.close()
    return {"upsert_pps": data.points / (loaded - began), "optimize_s": optimized - loaded}


def serve(
    folder: Path,
    config: str,
    queries: np.ndarray,
    truth: np.ndarray,
    oversampling: float,
    efs: list[int | None],
) -> list[dict[str, float]]:
    """Open the built shard and time the queries at each ``hnsw_ef`` (in a fresh process)."""
    store = _store(folder, config, oversampling)
    rows = [_timed_queries(store, queries, truth, ef) for ef in efs]
    memory = memory_mb()
    store.close()
    for row in rows:
        row |= {
            "serve_peak_mb": memory["peak"],
            "serve_anon_mb": memory["anon"],
            "serve_file_mb": memory["file"],
        }
    return rows


def _timed_queries(
    store: Any, queries: np.ndarray, truth: np.ndarray, ef: int | None
) -> dict[str, float]:
    store.storage = replace(store.storage, hnsw_ef=ef)
    timings, recalls = [], []
    for i, query in enumerate(queries):
        began = time.perf_counter()
        found = store.candidates({"image": query}, LIMIT)
        hits = store.get([found.ids[row] for row in found.ranked("image")[0].tolist()])
        if i >= WARMUP:
            timings.append((time.perf_counter() - began) * 1000)
            found = {int(h.payload["n"]) for h in hits}
            recalls.append(len(found & set(truth[i].tolist())) / LIMIT)
    p50, p95 = np.percentile(timings, [50, 95])
    return {"ef": ef or 0, "p50_ms": float(p50), "p95_ms": float(p95), "recall": np.mean(recalls)}


def _in_fresh_process(fn: Any, *args: Any) -> Any:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(fn, *args).result()


def _line(config: str, r: dict[str, float]) -> str:
    ef = f"{r['ef']:.0f}" if r["ef"] else "100*"
    return (
        f"  {config:<9} {r['upsert_pps']:9.0f} {r['optimize_s']:8.1f}s "
        f"{r['build_peak_mb']:6.0f}/{r.get('build_anon_peak_mb', 0):<5.0f} {r['disk_mb']:7.0f}MB "
        f"{ef:>5} {r['p50_ms']:6.2f}ms "
        f"{r['p95_ms']:6.2f}ms {r['recall']:9.3f} "
        f"{r['serve_peak_mb']:7.0f}MB ({r['serve_anon_mb']:.0f}+{r['serve_file_mb']:.0f})"
    )


def report(rows: list[tuple[str, dict[str, float]]]) -> None:
    print(
        f"\n  {'config':<9} {'upsert/s':>9} {'optimize':>9} {'build RSS/anon MB':>12} {'disk':>9} "
        f"{'ef':>5} {'p50':>8} {'p95':>8} {'recall@10':>9} {'serve RSS (anon+file)':>22}"
    )
    for config, r in rows:
        print(_line(config, r))
    print("  (ef 100*: the engine's default, ef_construct)")
    base = {r["ef"]: r for config, r in rows if config == "none"}
    for config, r in rows:
        b = base.get(r["ef"])
        if config == "none" or b is None:
            continue
        print(
            f"  {config} vs none at ef {r['ef'] or 'default'}: upsert "
            f"{r['upsert_pps'] / b['upsert_pps']:.2f}x, optimize "
            f"{r['optimize_s'] / b['optimize_s']:.2f}x the time, serve RSS "
            f"{r['serve_peak_mb'] / b['serve_peak_mb']:.2f}x (anon "
            f"{r['serve_anon_mb'] / b['serve_anon_mb']:.2f}x), disk "
            f"{r['disk_mb'] / b['disk_mb']:.2f}x, p50 {r['p50_ms'] / b['p50_ms']:.2f}x, "
            f"recall {r['recall'] - b['recall']:+.3f}"
        )


def main(args: argparse.Namespace) -> None:
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        raise SystemExit(f"unknown --configs {unknown}: choose from {', '.join(CONFIGS)}")
    efs = [None if e in ("", "default") else int(e) for e in args.ef.split(",")]
    data = Data(args.points, uniform=args.uniform)
    kind = "uniform random" if args.uniform else f"{INTRINSIC_DIM}-d structure + noise"
    print(
        f"{args.points} points, one {DIM}-d vector each ({kind}), {args.queries} queries "
        f"(first {WARMUP} warm up), limit {LIMIT}, oversampling {args.oversampling}",
        flush=True,
    )
    queries = data.queries(args.queries + WARMUP)
    began = time.perf_counter()
    truth = exact_top(data, queries)
    print(f"  exact top {LIMIT} (numpy, streamed): {time.perf_counter() - began:.1f} s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for config in configs:
            built = _in_fresh_process(build, Path(tmp), config, data, args.oversampling)
            print(
                f"  {config}: {built['upsert_pps']:.0f} upserts/s, optimize "
                f"{built['optimize_s']:.1f} s, build RSS {built['build_peak_mb']:.0f} MB, disk "
                f"{built['disk_mb']:.0f} MB",
                flush=True,
            )
            served = _in_fresh_process(
                serve, Path(tmp), config, queries, truth, args.oversampling, efs
            )
            for row in served:
                rows.append((config, built | row))
                print(_line(config, built | row), flush=True)
    report(rows)

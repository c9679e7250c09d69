"""Store benchmark: Qdrant Edge (embedded) vs qdrant-client local mode.

Measures upsert throughput (batches of 256 two-vector points, 512-d random unit vectors) and the
p50/p95 latency of a two-vector RRF fused query (prefetch 50 each, limit 10) at each size, and
prints Edge's speed-up over local mode measured in the same run.

    python -m bench.store            # 20k and 100k points (local mode: ~4 min to load 100k)
    python -m bench.store --quick    # 2k points
    python -m bench.store --local-max 20000   # stop local mode at 20k
    python -m bench.store --optimize  # also Edge after optimize() (HNSW; minutes at 100k)
    python -m bench.store --points 1000000   # a million points: none vs int8 (bench.store_scale)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import StoreSettings
from rag.identity import point_id
from rag.retrieval import fusion
from rag.store import CollectionLayout, PointRecord, VectorStore, open_store
from rag.store.client import QdrantClientStore  # noqa: F401  (loaded before any long run)
from rag.store.edge import EdgeStore

DIM = 512
BATCH = 256
PREFETCH = 50
LIMIT = 10


@dataclass
class Row:
    engine: str
    size: int
    upsert_pps: float
    p50_ms: float
    p95_ms: float


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def batches(start: int, stop: int, seed: int) -> Iterator[list[PointRecord]]:
    rng = np.random.default_rng(seed + start)
    for first in range(start, stop, BATCH):
        n = min(BATCH, stop - first)
        images, texts = unit_rows(rng, n), unit_rows(rng, n)
        yield [
            PointRecord(
                point_id("bench", str(first + i)),
                {"image": images[i], "text": texts[i]},
                {"source": f"item-{first + i}.jpg", "n": first + i, "text": "a caption"},
            )
            for i in range(n)
        ]


def load(store: VectorStore, start: int, stop: int) -> float:
    """Upsert points ``start..stop``; the points per second."""
    began = time.perf_counter()
    for batch in batches(start, stop, seed=0):
        store.upsert(batch)
    store.flush()
    return (stop - start) / (time.perf_counter() - began)


def query_latencies(store: VectorStore, n_queries: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of a fused search: the candidates of both lists, RRF, and the
    best ``LIMIT`` points read."""
    queries = unit_rows(np.random.default_rng(1), n_queries + 5)
    timings = []
    for i, query in enumerate(queries):
        began = time.perf_counter()
        found = store.candidates({"image": query, "text": query}, PREFETCH)
        best = fusion.fuse(found, "rrf", {}, LIMIT)
        store.get([found.ids[row] for row, _ in best])
        if i >= 5:  # the first few warm caches up
            timings.append((time.perf_counter() - began) * 1000)
    p50, p95 = np.percentile(timings, [50, 95])
    return float(p50), float(p95)


def run_engine(
    engine: str, url: str, sizes: list[int], n_queries: int, folder: Path, optimize: bool
) -> list[Row]:
    store = open_store(StoreSettings(url=url, collection=f"bench-{engine}"), folder)
    store.ensure_collection(CollectionLayout.of(DIM))
    rows, loaded = [], 0
    for size in sizes:
        pps = load(store, loaded, size)
        loaded = size
        if optimize and isinstance(store, EdgeStore):
            began = time.perf_counter()
            store.optimize()
            print(
                f"  {engine:<14} {size:>7} points: optimize() took "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
        p50, p95 = query_latencies(store, n_queries)
        rows.append(Row(engine, size, pps, p50, p95))
        print(
            f"  {engine:<14} {size:>7} points: {pps:8.0f} upserts/s  p50 {p50:7.2f} ms  "
            f"p95 {p95:7.2f} ms",
            flush=True,
        )
    store.close()
    return rows


def report(rows: list[Row]) -> None:
    print("\nEdge vs qdrant-client local mode (same run, same machine):")
    local = {r.size: r for r in rows if r.engine == "local"}
    for row in rows:
        base = local.get(row.size)
        if row.engine == "local" or base is None:
            continue
        print(
            f"  {row.engine:<14} {row.size:>7}: upsert {row.upsert_pps / base.upsert_pps:6.1f}x  "
            f"query p50 {base.p50_ms / row.p50_ms:6.1f}x  p95 {base.p95_ms / row.p95_ms:6.1f}x "
            "faster"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2k points only")
    parser.add_argument("--local-max", type=int, default=100_000, help="largest local-mode size")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--optimize", action="store_true", help="also time Edge after optimize()")
    scale = parser.add_argument_group("one large collection (--points; see bench/store_scale.py)")
    scale.add_argument("--points", type=int, help="load this many points, index, search, recall")
    scale.add_argument(
        "--configs", default="int8,none", help="of none, int8, int8-ram (base: none)"
    )
    scale.add_argument("--oversampling", type=float, default=2.0)
    scale.add_argument("--ef", default="default,128,256,512", help="hnsw_ef values to search with")
    scale.add_argument("--uniform", action="store_true", help="i.i.d. random vectors (worst case)")
    scale.add_argument("--dir", help="folder for the shards (default: the system temp folder)")
    args = parser.parse_args(argv)
    if args.points:
        from bench import store_scale

        store_scale.main(args)
        return
    sizes = [2_000] if args.quick else [20_000, 100_000]
    n_queries = 50 if args.quick else args.queries
    print(f"{DIM}-d unit vectors, batches of {BATCH}, RRF prefetch {PREFETCH}x2 limit {LIMIT}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = run_engine("edge", "", sizes, n_queries, folder, optimize=False)
        if args.optimize:
            rows += run_engine("edge-optimized", "", sizes, n_queries, folder / "o", True)
        local_sizes = [s for s in sizes if s <= args.local_max]
        rows += run_engine("local", ":memory:", local_sizes, n_queries, folder, optimize=False)
    report(rows)


if __name__ == "__main__":
    main()

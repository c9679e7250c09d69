"""Operations benchmark: backup and restore of a 10k-item collection, and the cost of the
metrics middleware and of traces on ``POST /v1/search`` p50.

Backup: an embedded collection of ``--items`` points (two 512-d vectors each, a payload) and as
many small upload files, backed up while a store is open on it (the write pause is the time
from the start to the end of the shard and queue copy), then restored into an empty folder.

Metrics: the same app (tiny random CLIP, random points) built with and without
``install_metrics``; ``--rounds`` rounds of ``--requests`` searches alternate between the two
so machine load hits both alike; p50 of each and the overhead in per cent. Then the
middlewares' own cost per request, measured on an ASGI app that answers at once (steadier on a
loaded machine), as a share of the search p50.

Traces: the same app with traces off (no middleware, no tracer) and on (every span handed to
an exporter that drops it), rounds alternating; and the retriever alone, off and on.

    python -m bench.ops                 # 10k items, 5 x 200 searches per app
    python -m bench.ops --quick         # 1k items, 3 x 100 searches
    python -m bench.ops --traces        # only the traces' cost
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from bench.store import batches
from ingest.backup import restore_backup, take_backup
from ingest.uploads import uploads_dir
from rag.config import Settings
from rag.services import Services
from rag.store import CollectionLayout, PointRecord, edge_path
from rag.store.edge import EdgeStore


def bench_backup(items: int, root: Path) -> dict[str, float]:
    settings = Settings(_env_file=None, data_dir=root / "data")
    store = EdgeStore(edge_path(settings.data_dir, "mmrag"), "mmrag")
    store.ensure_collection(CollectionLayout.of(512))
    for batch in batches(0, items, seed=1):
        store.upsert(batch)
    store.flush()
    folder = uploads_dir(settings.files_dir)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in range(items):
        (folder / f"{n:08x}.png").write_bytes(rng.bytes(2048))
    services = Services(settings)
    services.__dict__["store"] = store  # served: the store is open, writes get paused
    paused_at: list[float] = []
    backup_started = time.perf_counter()
    manifest = take_backup(
        services, root / "backup", while_paused=lambda: paused_at.append(time.perf_counter())
    )
    backup_s = time.perf_counter() - backup_started
    store.close()
    started = time.perf_counter()
    restore_backup(root / "backup", Settings(_env_file=None, data_dir=root / "restored"))
    restore_s = time.perf_counter() - started
    size = sum(entry["size"] for entry in manifest["files"])
    return {
        "files": len(manifest["files"]),
        "mib": size / 2**20,
        "backup_s": backup_s,
        "pause_s": paused_at[0] - backup_started,
        "restore_s": restore_s,
    }


def _app_settings(root: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=root,
        clip={"model": "mmrag-tiny", "pretrained": "", "threads": 1},
        passage={"model": "none"},
        lexical={"enabled": False},
        rerank={"model": "none"},
        llm={"backend": "extractive"},
        log_level="WARNING",
    )


def _fill(services: Services, points: int) -> None:
    """``points`` random unit vectors (image and text alike) in the services' store."""
    dim = services.embedder.dim
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((points, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [
        PointRecord(f"00000000-0000-4000-8000-{n:012x}", {"image": v, "text": v}, {"text": "x"})
        for n, v in enumerate(vectors)
    ]
    for first in range(0, points, 256):
        services.store.upsert(records[first : first + 256])


def bench_metrics(points: int, rounds: int, requests: int, root: Path) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from api.main import create_app

    services = Services(_app_settings(root))
    _fill(services, points)
    with_metrics = TestClient(create_app(services=services))
    with mock.patch("api.main.install_metrics", lambda app: None):
        without = TestClient(create_app(services=services))
    timings: dict[str, list[float]] = {"with": [], "without": []}
    with with_metrics, without:
        for client in (with_metrics, without):  # warm up
            for _ in range(20):
                client.post("/v1/search", json={"text": "warm up", "top_k": 10})
        for _ in range(rounds):
            for name, client in (("without", without), ("with", with_metrics)):
                for n in range(requests):
                    started = time.perf_counter()
                    response = client.post("/v1/search", json={"text": f"q {n}", "top_k": 10})
                    timings[name].append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
    services.close()
    p50 = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    return {
        "p50_without_ms": p50["without"],
        "p50_with_ms": p50["with"],
        "overhead_pct": 100 * (p50["with"] / p50["without"] - 1),
    }


def bench_traces(points: int, rounds: int, requests: int, root: Path) -> dict[str, float]:
    """``POST /v1/search`` p50 with traces off (as shipped: no middleware, no tracer) and on
    (every span handed at once to an exporter that drops it: the SDK's whole cost, no network),
    rounds alternating; and the in-process ``retriever.search`` p50 off and on."""
    from fastapi.testclient import TestClient
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from api.main import create_app
    from rag import tracing
    from rag.retrieval.types import Query

    class Dropped(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            return SpanExportResult.SUCCESS

    services = Services(_app_settings(root))
    _fill(services, points)
    tracing.stop()
    untraced = TestClient(create_app(services=services))
    tracing.start(services.settings, exporter=Dropped())
    traced = TestClient(create_app(services=services))
    tracing.stop()
    timings: dict[str, list[float]] = {"off": [], "on": [], "search_off": [], "search_on": []}
    with untraced, traced:
        for client in (untraced, traced):  # warm up
            for _ in range(20):
                client.post("/v1/search", json={"text": "warm up", "top_k": 10})
        for _ in range(rounds):
            for name, client in (("off", untraced), ("on", traced)):
                if name == "on":
                    tracing.start(services.settings, exporter=Dropped())
                for n in range(requests):
                    started = time.perf_counter()
                    response = client.post("/v1/search", json={"text": f"q {n}", "top_k": 10})
                    timings[name].append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                for n in range(requests):
                    started = time.perf_counter()
                    services.retriever.search(Query(text=f"q {n}", top_k=10))
                    timings[f"search_{name}"].append(time.perf_counter() - started)
                tracing.stop()
    services.close()
    p50 = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    return {
        "p50_off_ms": p50["off"],
        "p50_on_ms": p50["on"],
        "overhead_pct": 100 * (p50["on"] / p50["off"] - 1),
        "search_off_ms": p50["search_off"],
        "search_on_ms": p50["search_on"],
        "search_overhead_pct": 100 * (p50["search_on"] / p50["search_off"] - 1),
    }


def traces_cost_us(calls: int = 5_000, rounds: int = 5) -> float:
    """What traces on cost a search request (microseconds, median of ``rounds``): the request
    span's middleware and five stage spans, on an ASGI app that answers at once, against the
    same app bare (traces off); spans go to an exporter that drops them."""
    import asyncio

    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from api.tracing import TracingMiddleware
    from rag import tracing

    class Dropped(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            return SpanExportResult.SUCCESS

    async def bare(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        for stage in ("embed", "candidates", "fuse", "get", "hits"):
            tracing.finished(f"search.{stage}", 0.0001)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = TracingMiddleware(bare)
    scope = {"type": "http", "method": "POST", "path": "/v1/search", "headers": []}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        return None

    async def run(app) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), receive, send)
        return (time.perf_counter() - started) / calls * 1e6

    costs = []
    settings = Settings(_env_file=None)
    for _ in range(rounds):
        tracing.stop()
        plain = asyncio.run(run(bare))
        tracing.start(settings, exporter=Dropped())
        costs.append(asyncio.run(run(wrapped)) - plain)
    tracing.stop()
    return statistics.median(costs)


def traces_off_cost_ns(calls: int = 1_000_000) -> float:
    """What traces cost a search stage when they are off: one ``tracing.enabled()`` test
    (nanoseconds, the loop's own cost taken off)."""
    from rag import tracing

    tracing.stop()
    enabled = tracing.enabled
    started = time.perf_counter()
    for _ in range(calls):
        enabled()
    tested = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(calls):
        pass
    return (tested - (time.perf_counter() - started)) / calls * 1e9


def middleware_cost_us(calls: int = 20_000, rounds: int = 5) -> float:
    """The metrics and request-id middlewares' own cost per request (microseconds, median of
    ``rounds``): one ASGI app that answers at once, called bare and wrapped, alternating, plus
    recording a search's stage timings. Less sensitive to machine load than whole requests."""
    import asyncio

    from api.metrics import MetricsMiddleware, observe_search
    from api.request_ids import RequestIdMiddleware

    async def bare(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = MetricsMiddleware(RequestIdMiddleware(bare))
    scope = {"type": "http", "method": "POST", "path": "/v1/search", "headers": []}
    timings = {"encode": 0.001, "store": 0.001, "fuse": 0.0001, "total": 0.003}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        return None

    async def run(app, observe: bool) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), receive, send)
            if observe:
                observe_search(timings)
        return (time.perf_counter() - started) / calls * 1e6

    costs = []
    for _ in range(rounds):
        plain = asyncio.run(run(bare, False))
        costs.append(asyncio.run(run(wrapped, True)) - plain)
    return statistics.median(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--traces", action="store_true", help="only the traces' cost")
    args = parser.parse_args()
    items = args.items or (1000 if args.quick else 10_000)
    rounds = args.rounds or (3 if args.quick else 5)
    requests = args.requests or (100 if args.quick else 200)
    with tempfile.TemporaryDirectory() as tmp:
        traces = bench_traces(1000, rounds, requests, Path(tmp) / "traces-bench")
        print(
            f"/v1/search p50 traces off {traces['p50_off_ms']:.2f} ms, on "
            f"{traces['p50_on_ms']:.2f} ms: {traces['overhead_pct']:+.1f} %; retriever.search "
            f"p50 off {traces['search_off_ms']:.2f} ms, on {traces['search_on_ms']:.2f} ms: "
            f"{traces['search_overhead_pct']:+.1f} % (whole requests: noisy on a loaded machine)"
        )
        cost = traces_cost_us()
        print(
            f"traces on: request span + 5 stage spans {cost:.1f} us a request = "
            f"{cost / 10 / traces['p50_off_ms']:.2f} % of that search p50; traces off: "
            f"{traces_off_cost_ns():.0f} ns a stage (one test of a module global)"
        )
        if args.traces:
            return
        result = bench_backup(items, Path(tmp) / "backup-bench")
        print(
            f"backup of {items} items ({result['files']} files, {result['mib']:.1f} MiB): "
            f"{result['backup_s']:.2f} s (writes paused {result['pause_s']:.2f} s); "
            f"restore {result['restore_s']:.2f} s"
        )
        metrics = bench_metrics(1000, rounds, requests, Path(tmp) / "metrics-bench")
        print(
            f"/v1/search p50 without metrics {metrics['p50_without_ms']:.2f} ms, with "
            f"{metrics['p50_with_ms']:.2f} ms: overhead {metrics['overhead_pct']:+.1f} % "
            "(whole requests: noisy on a loaded machine)"
        )
        cost = middleware_cost_us()
        share = cost / 1000 / metrics["p50_without_ms"] * 100
        print(
            f"metrics + request-id middlewares and stage recording: {cost:.1f} us a request "
            f"= {share:.2f} % of that search p50"
        )


if __name__ == "__main__":
    main()

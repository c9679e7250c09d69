"""Load benchmark: concurrent search + chat (extractive) + embed on ``mmrag serve`` over loopback.

A server process (tiny CLIP, embedded Qdrant Edge, ``--items`` generated items, extractive
answers, no reranker, no ingest worker) takes requests from N concurrent clients (asyncio +
httpx in this process), each looping over the three routes in turn, for ``--seconds`` per
concurrency level. Per level: requests/s, p50/p95 per route (ms), 5xx and transport errors.

The baseline is the 1-client throughput of the same run; the target is that 32 clients serve at
least as many requests/s, with 0 5xx. ``--compare`` first runs the same ladder on a server with
query batching off (``MMRAG_CLIP__QUERY_BATCH=0``), the code path before dynamic batching.

    python -m bench.load                       # 60 s per level, 1, 8 and 32 clients
    python -m bench.load --seconds 8 --compare # short, with the batching-off ladder first
    python -m bench.load --clients 1,4,16,64 --routes search

The client shares the machine with the server: on 2 cores both compete for CPU, so the figures
are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROUTES = ("search", "chat", "embed")


@dataclass
class Level:
    """What one concurrency level measured."""

    clients: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in ROUTES})
    server_errors: int = 0
    other_errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def fill_collection(data_dir: Path, items: int) -> list[str]:
    """Write ``items`` generated items with the tiny CLIP; their captions."""
    from bench.chat import fill
    from rag.config import StoreSettings
    from rag.embedding import load_embedder, tiny_clip_settings
    from rag.store import CollectionLayout, open_store

    embedder = load_embedder(tiny_clip_settings(), data_dir / "models")
    store = open_store(StoreSettings(), data_dir)
    store.ensure_collection(CollectionLayout.of(embedder.dim))
    texts = fill(store, embedder, items)
    store.close()
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(data_dir: Path, extra_env: dict[str, str]) -> Iterator[str]:
    """``mmrag serve`` on a free loopback port until the block ends; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "MMRAG_DATA_DIR": str(data_dir),
        "MMRAG_CLIP__MODEL": "mmrag-tiny",
        "MMRAG_CLIP__PRETRAINED": "",
        "MMRAG_CLIP__THREADS": "1",
        "MMRAG_RERANK__MODEL": "none",
        "MMRAG_LLM__BACKEND": "extractive",
        "MMRAG_API__EMBEDDED_WORKER": "false",
        "MMRAG_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    args = [sys.executable, "-m", "mmrag_cli.main", "serve", "--port", str(port)]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen, url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the server exited with {process.returncode}: {err[-2000:]}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server was not ready within {timeout_s:.0f} s")


def request_for(route: str, question: str) -> tuple[str, dict[str, object]]:
    if route == "search":
        return "/v1/search", {"text": question, "top_k": 5}
    if route == "chat":
        return "/v1/chat", {"question": question, "top_k": 4}
    return "/v1/embed/text", {"texts": [question]}


async def client(
    http: httpx.AsyncClient, routes: list[str], questions: list[str], level: Level, stop: float
) -> None:
    rng = random.Random(level.clients * 1000 + len(level.latencies))
    turn = rng.randrange(len(routes))
    while time.perf_counter() < stop:
        route = routes[turn % len(routes)]
        turn += 1
        path, body = request_for(route, rng.choice(questions))
        began = time.perf_counter()
        try:
            response = await http.post(path, json=body)
        except httpx.HTTPError as exc:
            level.other_errors.append(f"{route}: {type(exc).__name__}")
            continue
        if response.status_code >= 500:
            level.server_errors += 1
        elif response.status_code != 200:
            level.other_errors.append(f"{route}: {response.status_code} {response.text[:200]}")
        else:
            level.latencies[route].append(time.perf_counter() - began)


async def run_level(
    url: str, clients: int, seconds: float, routes: list[str], questions: list[str]
) -> Level:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    level = Level(clients, seconds)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        for route in routes:  # warm every route once, not counted
            path, body = request_for(route, questions[0])
            await http.post(path, json=body)
        began = time.perf_counter()
        stop = began + seconds
        loops = [client(http, routes, questions, level, stop) for _ in range(clients)]
        await asyncio.gather(*loops)
        level.seconds = time.perf_counter() - began
    return level


def ladder(
    url: str, levels: list[int], seconds: float, routes: list[str], questions: list[str]
) -> list[Level]:
    results = []
    for clients in levels:
        level = asyncio.run(run_level(url, clients, seconds, routes, questions))
        results.append(level)
        print(row(level, routes), flush=True)
    return results


def header(routes: list[str]) -> str:
    cells = "".join(f"{route + ' p50':>12}{'p95':>8}" for route in routes)
    return f"  {'clients':>7}{'req/s':>8}{cells}{'5xx':>6}{'errors':>8}"


def row(level: Level, routes: list[str]) -> str:
    cells = ""
    for route in routes:
        values = level.latencies[route]
        p50, p95 = np.percentile(np.array(values) * 1e3, [50, 95]) if values else (np.nan, np.nan)
        cells += f"{p50:12.1f}{p95:8.1f}"
    return (
        f"  {level.clients:>7}{level.throughput:8.1f}{cells}{level.server_errors:>6}"
        f"{len(level.other_errors):>8}"
    )


def summary(label: str, results: list[Level]) -> None:
    base = results[0]
    for level in results[1:]:
        print(
            f"  {label}: {level.clients} clients serve {level.throughput / base.throughput:.2f}x "
            f"the {base.clients}-client throughput ({level.throughput:.1f} vs "
            f"{base.throughput:.1f} req/s)"
        )
    errors = [e for level in results for e in level.other_errors][:5]
    server_errors = sum(level.server_errors for level in results)
    note = f"; errors e.g. {errors}" if errors else ""
    print(f"  {label}: {server_errors} responses 5xx{note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="per concurrency level")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated levels")
    parser.add_argument("--items", type=int, default=80)
    parser.add_argument("--routes", default=",".join(ROUTES), help="of search, chat, embed")
    parser.add_argument(
        "--compare", action="store_true", help="first the same ladder with query batching off"
    )
    args = parser.parse_args(argv)
    levels = [int(part) for part in args.clients.split(",") if part.strip()]
    routes = [part.strip() for part in args.routes.split(",") if part.strip()]
    if unknown := set(routes) - set(ROUTES):
        parser.error(f"unknown routes {sorted(unknown)}; use {', '.join(ROUTES)}")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        data_dir = Path(tmp)
        texts = fill_collection(data_dir, args.items)
        from bench.chat import question

        questions = [question(text) for text in texts]
        print(
            f"{args.items} items, tiny CLIP, extractive answers; routes {', '.join(routes)}; "
            f"{args.seconds:g} s per level; {os.cpu_count()} CPUs (client and server share them)"
        )
        configs = [("batching off", {"MMRAG_CLIP__QUERY_BATCH": "0"})] if args.compare else []
        configs.append(("default", {}))
        outcomes = []
        for label, env in configs:
            print(f"\n{label}:\n{header(routes)}", flush=True)
            with server(data_dir, env) as url:
                outcomes.append((label, ladder(url, levels, args.seconds, routes, questions)))
        print()
        for label, results in outcomes:
            summary(label, results)


if __name__ == "__main__":
    main()

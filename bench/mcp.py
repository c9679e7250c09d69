"""MCP overhead: the ``search`` tool over stdio and over streamable HTTP against the same search
on ``POST /v1/search``, p50 of each in one run.

A collection of ``--items`` generated items (tiny CLIP, embedded Qdrant Edge) is copied (the
embedded store has one process per data folder) and served twice at once: by ``mmrag serve``
(``/v1/search`` and ``/mcp``) and by ``mmrag mcp`` as a subprocess over stdio. One client calls
the three in turn, one request at a time, so a busy machine slows each alike. Every call
searches one of the same questions with ``top_k`` 5 and no pictures: the same retrieval.
Printed: p50 and p95 per transport (ms), and the MCP overhead,
``(p50 MCP - p50 /v1/search) / p50 /v1/search``; the target is <= 10 %.

    python -m bench.mcp            # 300 calls per transport
    python -m bench.mcp --quick    # 60

The tiny CLIP makes a search take a few ms, so the overhead ratio is an upper bound: with a
real model the same fixed cost is a smaller share of a slower search.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from bench.chat import question
from bench.load import fill_collection, server

Call = Callable[[str], Awaitable[None]]
ENV = {
    "MMRAG_CLIP__MODEL": "mmrag-tiny",
    "MMRAG_CLIP__PRETRAINED": "",
    "MMRAG_CLIP__THREADS": "1",
    "MMRAG_RERANK__MODEL": "none",
    "MMRAG_LLM__BACKEND": "extractive",
    "MMRAG_API__EMBEDDED_WORKER": "false",
    "MMRAG_LOG_LEVEL": "WARNING",
}


def search_args(text: str) -> dict[str, object]:
    return {"text": text, "top_k": 5}


async def timed(calls: dict[str, Call], questions: list[str], n: int) -> dict[str, list[float]]:
    """``n`` calls of each, taken in turn (one transport never runs while the other idles)."""
    for call in calls.values():  # warm each once, not counted
        await call(questions[0])
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(n):
        for name, call in calls.items():
            began = time.perf_counter()
            await call(questions[i % len(questions)])
            times[name].append(time.perf_counter() - began)
    return times


async def measure(url: str, copy: Path, questions: list[str], n: int) -> dict[str, list[float]]:
    """``/v1/search`` and the ``search`` tool on ``/mcp`` of the server at ``url``, and the
    ``search`` tool of ``mmrag mcp`` over stdio on ``copy`` (the same collection), in turn."""
    env = {**os.environ, **ENV, "MMRAG_DATA_DIR": str(copy)}
    command = StdioServerParameters(
        command=sys.executable, args=["-m", "mmrag_cli.main", "mcp"], env=env
    )
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp")) as over_http,
        Client(command) as over_stdio,
    ):

        async def rest(text: str) -> None:
            response = await http.post("/v1/search", json=search_args(text))
            response.raise_for_status()

        def tool(client: Client) -> Call:
            async def call(text: str) -> None:
                result = await client.call_tool("search", {**search_args(text), "pictures": 0})
                assert not result.is_error, result.content

            return call

        calls = {"/v1/search": rest, "MCP over HTTP": tool(over_http)}
        calls["MCP over stdio"] = tool(over_stdio)
        return await timed(calls, questions, n)


def report(times: dict[str, list[float]]) -> None:
    base = float(np.percentile(times["/v1/search"], 50))
    print(f"  {'transport':<16}{'p50 ms':>9}{'p95 ms':>9}{'overhead':>10}")
    for name, values in times.items():
        p50, p95 = np.percentile(np.array(values) * 1e3, [50, 95])
        overhead = "" if name == "/v1/search" else f"{(p50 / 1e3 - base) / base:+9.1%}"
        print(f"  {name:<16}{p50:9.2f}{p95:9.2f}{overhead:>10}")
    worst = max((np.percentile(v, 50) - base) / base for k, v in times.items() if k != "/v1/search")
    verdict = "met" if worst <= 0.10 else "NOT met"
    print(f"  MCP overhead at p50: at most {worst:+.1%} (target <= +10 %: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 calls per transport")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--items", type=int, default=500)
    args = parser.parse_args()
    calls = 60 if args.quick else args.calls
    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as folder:
        data_dir = Path(folder) / "data"
        texts = fill_collection(data_dir, args.items)
        questions = [question(text) for text in texts[:50]]
        print(f"{args.items} items, {calls} calls per transport, top_k 5, one client", flush=True)
        copy = Path(folder) / "copy"  # the embedded store: one process per data folder
        shutil.copytree(data_dir, copy)
        with server(data_dir, {**ENV}) as url:
            times = asyncio.run(measure(url, copy, questions, calls))
    report(times)


if __name__ == "__main__":
    main()

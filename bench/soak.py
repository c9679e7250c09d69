"""Soak: ``mmrag serve`` under mixed traffic and ingest for minutes; is its memory flat?

Starts the real server (tiny random CLIP, extractive answers, embedded Qdrant Edge, its own
ingest worker) in a child process, then runs ``--clients`` threads of mixed requests (search,
chat, embed, item reads) and one ingest thread (small upload jobs, some items deleted again).
The server's RSS is sampled every ``--sample-s`` seconds. Reported: the samples, the slope of a
least-squares line over the samples after the warm-up (MiB per minute; flat means no leak), the
growth ratio end / after warm-up, requests per route and every 5xx.

    python -m bench.soak                  # 10 minutes, RSS every 10 s
    python -m bench.soak --minutes 1 --sample-s 5
    python -m bench.soak --no-ingest      # queries only: a leak apart from a growing store
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

WARM_UP_FRACTION = 0.2
"""Samples in the first fifth of the run (caches filling, first index build) are left out of
the slope."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _png(rng: random.Random) -> str:
    buffer = io.BytesIO()
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    Image.new("RGB", (48, 36), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class Traffic:
    """Counts of requests and 5xx per route, shared by the client threads."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def record(
        self, route: str, response: httpx.Response | None, failure: Exception | None = None
    ) -> None:
        with self.lock:
            self.requests[route] += 1
            if response is None or response.status_code >= 500:
                self.errors[route] += 1
                why = type(failure).__name__ if failure else f"HTTP {response.status_code}"  # type: ignore[union-attr]
                at = time.monotonic() - self.started
                self.reasons[f"{route}: {why}"] += 1
                print(f"  ! {route} {why} at t={at:.0f} s", flush=True)


def _client_loop(url: str, seed: int, stop: threading.Event, traffic: Traffic) -> None:
    rng = random.Random(seed)
    words = ["red", "square", "harbour", "cat", "note", "blue", "circle", "market"]
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            text = " ".join(rng.choices(words, k=3))
            route = rng.choice(["search", "chat", "embed", "item"])
            response: httpx.Response | None = None
            try:
                if route == "search":
                    response = client.post("/v1/search", json={"text": text, "top_k": 5})
                elif route == "chat":
                    response = client.post("/v1/chat", json={"question": text})
                elif route == "embed":
                    response = client.post("/v1/embed/text", json={"texts": [text] * 4})
                else:
                    hits = client.post("/v1/search", json={"text": text, "top_k": 1}).json()
                    for hit in hits.get("hits", [])[:1]:
                        response = client.get(f"/v1/items/{hit['id']}")
                        if hit.get("image_url"):
                            client.get(hit["image_url"])
                    if response is None:
                        continue
            except httpx.HTTPError as error:
                traffic.record(route, None, error)
                continue
            traffic.record(route, response)


def _ingest_loop(url: str, seed: int, stop: threading.Event, traffic: Traffic) -> None:
    rng = random.Random(seed)
    n = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            items = []
            for _ in range(8):
                items.append({"image": _png(rng), "text": f"soak note {n} about a red square"})
                n += 1
            response: httpx.Response | None = None
            try:
                response = client.post("/v1/ingest", json={"items": items})
                if rng.random() < 0.3:  # delete an item now and then: uploads must go too
                    hits = client.post("/v1/search", json={"text": "soak note", "top_k": 3})
                    for hit in hits.json().get("hits", [])[:1]:
                        traffic.record("delete", client.delete(f"/v1/items/{hit['id']}"))
            except httpx.HTTPError as error:
                traffic.record("ingest", None, error)
                stop.wait(2.0)
                continue
            traffic.record("ingest", response)
            stop.wait(2.0)


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMRAG_")}
    env.update(
        MMRAG_DATA_DIR=str(data_dir),
        MMRAG_CLIP__MODEL="mmrag-tiny",
        MMRAG_CLIP__PRETRAINED="",
        MMRAG_CLIP__THREADS="1",
        MMRAG_RERANK__MODEL="none",
        MMRAG_LLM__BACKEND="extractive",
        MMRAG_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS="1",
    )
    args = [sys.executable, "-m", "mmrag_cli.main", "serve", "--host", "127.0.0.1"]
    return subprocess.Popen([*args, "--port", str(port)], env=env)


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become ready")


def slope_mib_per_min(times_s: list[float], rss: list[float]) -> float:
    """Least-squares slope of RSS over time, in MiB per minute."""
    if len(times_s) < 2:
        return 0.0
    return float(np.polyfit(np.asarray(times_s) / 60.0, np.asarray(rss), 1)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--ingest",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the ingest thread (uploads, some deleted again); --no-ingest: queries only",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mmrag-soak-") as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = _start_server(Path(tmp) / "data", port)
        stop = threading.Event()
        traffic = Traffic()
        try:
            _wait_ready(url, server)
            threads = [
                threading.Thread(target=_client_loop, args=(url, i, stop, traffic), daemon=True)
                for i in range(args.clients)
            ]
            if args.ingest:
                threads.append(
                    threading.Thread(
                        target=_ingest_loop, args=(url, 99, stop, traffic), daemon=True
                    )
                )
            for thread in threads:
                thread.start()
            times, samples = _sample(server.pid, args.minutes * 60, args.sample_s)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
    return _report(times, samples, traffic, args)


def _sample(pid: int, duration_s: float, every_s: float) -> tuple[list[float], list[float]]:
    started = time.monotonic()
    times: list[float] = []
    samples: list[float] = []
    while True:
        elapsed = time.monotonic() - started
        times.append(elapsed)
        samples.append(_rss_mib(pid))
        print(f"  t={elapsed:6.0f} s  RSS {samples[-1]:7.1f} MiB", flush=True)
        if elapsed >= duration_s:
            return times, samples
        time.sleep(min(every_s, max(0.0, duration_s - elapsed)) or every_s)


def _report(
    times: list[float], rss: list[float], traffic: Traffic, args: argparse.Namespace
) -> int:
    skip = max(1, int(len(rss) * WARM_UP_FRACTION))
    steady_t, steady_rss = times[skip:], rss[skip:]
    slope = slope_mib_per_min(steady_t, steady_rss)
    growth = steady_rss[-1] / steady_rss[0] if steady_rss else float("nan")
    total = sum(traffic.requests.values())
    load = f"{args.clients} clients" + (" + ingest" if args.ingest else ", no ingest")
    print(f"\nsoak: {args.minutes:g} min, {load}, {total} requests")
    for route, count in sorted(traffic.requests.items()):
        print(f"  {route:7s} {count:6d} requests, {traffic.errors[route]} errors (5xx/transport)")
    for reason, count in sorted(traffic.reasons.items()):
        print(f"  error {reason}: {count}")
    print(f"RSS after warm-up {steady_rss[0]:.1f} MiB -> end {steady_rss[-1]:.1f} MiB")
    print(f"slope {slope:+.2f} MiB/min over {len(steady_rss)} samples; growth ratio {growth:.3f}")
    return 1 if sum(traffic.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

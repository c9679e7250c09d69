"""The real app (API and embedded ingest worker) in a forked child, its RSS read from /proc."""

from __future__ import annotations

import base64
import os
import resource
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from rag.config import Settings
from rag.embedding.base import Embedder
from rag.services import Services
from tests.api.conftest import png_bytes

AS_HEADROOM = 4 * 1024**3
"""Address space the server may add after it started (its allocations fail past it)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")


@contextmanager
def served(settings: Settings, embedder: Embedder) -> Iterator[tuple[str, int]]:
    """``(url, pid)`` of the app of ``mmrag serve`` under uvicorn in a forked child sharing the
    tiny model this process loaded; its address space capped a little above what tests allow."""
    port = _free_port()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            import uvicorn

            from api.main import create_app

            services = Services(settings)
            services.__dict__["embedder"] = embedder
            app = create_app(services=services)
            uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
            ).run()
            code = 0
        finally:
            os._exit(code)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, pid)
        limit = status_kib(pid, "VmSize") * 1024 + AS_HEADROOM
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
        yield url, pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _wait_ready(url: str, pid: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert os.waitpid(pid, os.WNOHANG) == (0, 0), "the server died"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the server did not come up")


def seed(url: str, headers: dict[str, str]) -> None:
    """Ingest a picture with text, a text and a Markdown document through the API, and wait."""
    picture = base64.b64encode(png_bytes((200, 30, 30), (64, 64))).decode()
    items = [{"image": picture, "text": "a red square"}, {"text": "a note about cats"}]
    jobs = [httpx.post(f"{url}/v1/ingest", json={"items": items}, headers=headers, timeout=60)]
    document = ("notes.md", b"# Notes\n\nCats sleep a lot. Dogs do not.\n", "text/markdown")
    jobs.append(
        httpx.post(f"{url}/v1/ingest", files={"files": document}, headers=headers, timeout=60)
    )
    for accepted in jobs:
        assert accepted.status_code == 202, accepted.text
        job_url = f"{url}/v1/ingest/{accepted.json()['job_id']}"
        deadline = time.monotonic() + 60
        while (job := httpx.get(job_url, headers=headers, timeout=10).json())["state"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["state"] == "done", job

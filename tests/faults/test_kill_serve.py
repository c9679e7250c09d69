"""kill -9 of the server (API + embedded worker) at 20 seeded moments of an API ingest job;
after a restart the job resumes and ends with exactly the expected ids, none duplicated, no
point malformed.

The server runs in a forked child (the app of ``mmrag serve`` under uvicorn, sharing the tiny
model the test process loaded), so 20 kills and 40 starts fit in about a minute.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from rag import identity
from rag.config import Settings
from rag.embedding.base import Embedder
from rag.services import Services
from tests.api.conftest import png_bytes
from tests.ingest.checks import check_invariants

KILLS = 20
ITEMS = 200
SEED = 13


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _services(settings: Settings, embedder: Embedder) -> Services:
    services = Services(settings)
    services.__dict__["embedder"] = embedder
    return services


def _serve_in_child(settings: Settings, embedder: Embedder, port: int) -> int:
    """Fork a process serving the app (API and embedded worker) on ``port``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            import uvicorn

            from api.main import create_app

            app = create_app(services=_services(settings, embedder))
            uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
            ).run()
            code = 0
        finally:
            os._exit(code)
    return pid


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


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _items() -> list[dict[str, str]]:
    items = []
    for i in range(ITEMS):
        item = {"id": f"item-{i}", "text": f"note number {i} about a small red square"}
        if i % 10 == 0:
            item["image"] = base64.b64encode(png_bytes((i, 255 - i, 7))).decode()
        items.append(item)
    return items


def _run_trial(settings: Settings, embedder: Embedder, seen_at_kill: int) -> int:
    """Ingest through the API, kill -9 once the job has seen ``seen_at_kill`` items (or has
    ended), restart, and wait for the job to end. Returns how many it had seen at the kill."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    pid = _serve_in_child(settings, embedder, port)
    try:
        _wait_ready(url, pid)
        accepted = httpx.post(url + "/v1/ingest", json={"items": _items()}, timeout=60)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        seen = _wait_for_progress(f"{url}/v1/ingest/{job_id}", seen_at_kill)
    finally:
        _kill(pid)
    pid = _serve_in_child(settings, embedder, port)
    try:
        _wait_ready(url, pid)
        deadline = time.monotonic() + 120
        while (job := httpx.get(f"{url}/v1/ingest/{job_id}", timeout=10).json())["state"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["state"] == "done", job
    finally:
        _kill(pid)
    return seen


def _wait_for_progress(job_url: str, seen: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = httpx.get(job_url, timeout=10).json()
        if job["state"] not in ("queued", "running") or job["progress"]["seen"] >= seen:
            return job["progress"]["seen"] if job["state"] == "running" else -1
        time.sleep(0.01)
    raise AssertionError("the job made no progress")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_9_at_20_moments_then_restart(
    make_settings, tiny_embedder: Embedder, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    keys = [identity.item_key(f"item-{i}", "") for i in range(ITEMS)]
    expected = {identity.point_id("mmrag", key) for key in keys}
    moments = []
    for trial in range(KILLS):
        settings = make_settings(tmp_path / f"trial{trial}")
        moments.append(_run_trial(settings, tiny_embedder, rng.randrange(0, ITEMS)))
        services = _services(settings, tiny_embedder)
        try:
            points = check_invariants(services.store, ITEMS)
            assert {p.id for p in points} == expected, f"trial {trial}"
        finally:
            services.close()
    mid_job = [seen for seen in moments if seen >= 0]
    print(f"items seen at each kill (-1: job had ended): {moments}")
    assert len(mid_job) >= KILLS // 2, moments  # most kills landed while the job ran

"""``mmrag serve`` as a real process, and uvicorn's ``api.main:app`` and ``--factory
api.main:create_app`` targets, on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path, model_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMRAG_")}
    env.update(
        MMRAG_DATA_DIR=str(tmp_path / "data"),
        MMRAG_CLIP__MODEL="mmrag-tiny",
        MMRAG_CLIP__PRETRAINED="",
        MMRAG_CLIP__CACHE_DIR=str(model_dir),
        MMRAG_RERANK__MODEL="none",
        MMRAG_LLM__BACKEND="extractive",
        MMRAG_API_KEYS="k1",
        PYTHONPATH=str(ROOT),
    )
    return env


@contextmanager
def _running(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"server did not come up:\n{output}")
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=60) == 0
        finally:
            process.kill()


@pytest.mark.slow
def test_mmrag_serve(tmp_path: Path, model_dir: Path) -> None:
    port = _free_port()
    args = [sys.executable, "-m", "mmrag_cli.main", "serve", "--host", "127.0.0.1"]
    with _running([*args, "--port", str(port)], _env(tmp_path, model_dir), port) as url:
        assert httpx.get(url + "/v1/stats").status_code == 401
        stats = httpx.get(url + "/v1/stats", headers={"X-API-Key": "k1"})
        assert stats.json()["points"] == 0


@pytest.mark.parametrize(
    ("target", "factory"), [("api.main:app", False), ("api.main:create_app", True)]
)
def test_uvicorn_targets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path, target: str, factory: bool
) -> None:
    """``uvicorn api.main:app`` and ``uvicorn --factory api.main:create_app`` (in-process)."""
    for name, value in _env(tmp_path, model_dir).items():
        if name.startswith("MMRAG_"):
            monkeypatch.setenv(name, value)
    config = uvicorn.Config(target, factory=factory, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(url + "/ready").status_code == 200
        assert httpx.get(url + "/v1/stats", headers={"Authorization": "Bearer k1"}).is_success
    finally:
        server.should_exit = True
        thread.join(timeout=30)

"""``mmrag demo`` (what ``make run`` runs) with no pretrained weights: the offline demo model,
the sample collection, a search and an answer, then the API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mmrag_cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def demo_env(tmp_path: Path, demo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The default CLIP (ViT-B-32/openai, not downloadable here); a cache with the demo model."""
    env = {
        "MMRAG_DATA_DIR": str(tmp_path / "data"),
        "MMRAG_CLIP__CACHE_DIR": str(demo_cache),
        "MMRAG_CLIP__THREADS": "1",
        "MMRAG_RERANK__MODEL": "none",
        "MMRAG_LLM__BACKEND": "extractive",
        "MMRAG_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_demo_falls_back_to_the_offline_model_and_answers(demo_env, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--no-serve", "--budget", "test", "--items", "30"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "OFFLINE DEMO MODEL" in out and "not available" in out
    assert len(list((tmp_path / "data" / "sample").glob("scene-*.png"))) == 30
    assert "written 30" in out
    first_hit = out.split("sample search:")[1].splitlines()[1]
    assert first_hit.strip().startswith("1.") and "<- the picture described" in first_hit
    assert "sample question: 'How many" in out and "answer (extractive):" in out
    assert "MMRAG_STORE__COLLECTION=demo_offline" in out
    assert "the sample PDF: written" in out and "document question" in out
    assert "Shape warehouse guide (shape-warehouse.pdf), page 3  <- the page that answers" in out

    again = runner.invoke(app, ["demo", "--no-serve", "--budget", "test", "--items", "30"])
    assert again.exit_code == 0 and "written 0, unchanged 30" in again.stdout
    assert "the sample PDF: written 0" in again.stdout


def test_demo_that_insists_on_pretrained_weights_says_why_it_cannot(demo_env) -> None:
    result = runner.invoke(app, ["demo", "--no-serve", "--model", "pretrained"])
    assert result.exit_code == 2
    assert "error:" in result.output and "MMRAG_CLIP__PRETRAINED" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_demo_serves_the_api_on_the_sample_collection(demo_env, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "MMRAG_API__PORT": str(port), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "mmrag_cli.main", "demo", "--budget", "test", "--items", "12"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None and time.monotonic() < deadline, _output(process)
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        hits = httpx.post(url + "/v1/search", json={"text": "a red circle"}, timeout=30)
        assert hits.status_code == 200 and len(hits.json()["hits"]) > 0
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        finally:
            process.kill()


def _output(process: subprocess.Popen) -> str:
    process.kill()
    return process.stdout.read().decode() if process.stdout else ""

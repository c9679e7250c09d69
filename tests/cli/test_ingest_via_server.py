"""``mmrag ingest`` while ``mmrag serve`` runs on the same data folder: the job goes through the
server (which holds the embedded store), and the server keeps working afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.main import create_app
from mmrag_cli.main import app
from mmrag_cli.remote import RemoteIngest
from rag.config import ClipSettings, Settings, load_settings
from rag.services import Services
from tests.api.conftest import png_bytes
from tests.conftest import free_port
from tests.ingest.draw import captioned_folder

ROOT = Path(__file__).resolve().parents[2]


class _CtrlC:
    def update(self, report: object) -> None:
        raise KeyboardInterrupt


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "mmrag serve exited"
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("mmrag serve did not come up")


def _wait_done(url: str, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (job := httpx.get(f"{url}/v1/ingest/{job_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


@pytest.mark.slow
def test_ingest_goes_through_the_running_server(
    tiny_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMRAG_INGEST__ROOTS", str(tmp_path))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "mmrag_cli.main", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        captioned_folder(tmp_path / "photos", 5)
        _wait_ready(url, server)
        result = CliRunner().invoke(app, ["ingest", "photos"])
        assert result.exit_code == 0, result.output
        assert f"sending the job to the mmrag server at {url}" in result.output
        assert "seen 5, written 5, unchanged 0, failed 0" in result.output
        files = [("files", ("late.png", png_bytes(), "image/png"))]
        accepted = httpx.post(url + "/v1/ingest", files=files)
        assert accepted.status_code == 202
        assert _wait_done(url, accepted.json()["job_id"])["state"] == "done"
        assert httpx.get(url + "/v1/stats").json()["points"] == 6
        outside = CliRunner().invoke(app, ["ingest", "--server", url, "/"])
        assert outside.exit_code == 2 and str(tmp_path) in outside.output
        remote = RemoteIngest(url, load_settings())
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C at the first progress
            remote.run([captioned_folder(tmp_path / "more", 160)], {}, _CtrlC())
        last = httpx.get(url + "/v1/ingest?limit=1").json()["jobs"][0]
        assert _wait_done(url, last["id"])["state"] == "cancelled"
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(60) == 0
    assert not (tmp_path / "data" / "server.json").exists()


@contextmanager
def _serving(settings: Settings) -> Iterator[str]:
    """The real app for ``settings`` on a free loopback port, in this process."""
    import threading

    import uvicorn

    services = Services(settings)
    config = uvicorn.Config(create_app(services=services), host="127.0.0.1", port=0)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()


@pytest.mark.parametrize("source", ["env", "file"])
def test_ingest_through_a_keyed_server_sends_only_a_key_that_may_write(
    tiny_clip: ClipSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    entries = [("reader", "*", "read"), ("writer", "*", "write")]
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("".join(f"{k} {t} {r}  # ops\n" for k, t, r in entries))
    if source == "env":  # KEY:TENANT:ROLE entries: only KEY goes over the wire
        keys: dict[str, object] = {"api_keys": [":".join(entry) for entry in entries]}
        monkeypatch.setenv("MMRAG_API_KEYS", ",".join(":".join(entry) for entry in entries))
    else:  # keys only in the keys file, which the CLI reads as the server does
        keys = {"api_keys_file": keys_file}
        monkeypatch.setenv("MMRAG_API_KEYS_FILE", str(keys_file))
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        clip=tiny_clip.model_copy(update={"cache_dir": tmp_path / "models"}),
        rerank={"model": "none"},
        llm={"backend": "extractive"},
        ingest={"roots": [str(tmp_path)]},
        **keys,
    )
    photos = captioned_folder(tmp_path / "photos", 3)
    with _serving(settings) as url:
        result = CliRunner().invoke(app, ["ingest", "--server", url, str(photos)])
        assert result.exit_code == 0, result.output
        assert "seen 3, written 3, unchanged 0, failed 0" in result.output

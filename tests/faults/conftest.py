"""Fixtures of the fault suites: a live app over a socket, with API keys."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api.main import create_app
from rag.config import Settings
from tests.api.conftest import make_settings, model_dir  # noqa: F401 - shared fixtures

KEY = "fault-suite-key"


@pytest.fixture(scope="module")
def keyed_settings(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # noqa: F811
    return make_settings(tmp_path_factory.mktemp("data"), api_keys=[KEY])


def serve(app: object) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port while the caller runs."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def keyed_url(keyed_settings: Settings) -> Iterator[str]:
    yield from serve(create_app(keyed_settings))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"

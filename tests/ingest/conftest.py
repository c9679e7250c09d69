"""Fixtures of the ingest tests: Services on the tiny CLIP, both store engines, a real
``redis-server`` on a loopback port (Debian's package; CI installs it in ``.ci/run``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from rag.config import Settings, StoreSettings
from rag.embedding.base import Embedder
from rag.services import Services

ServicesFactory = Callable[..., Services]


@pytest.fixture
def make_services(settings: Settings, tiny_embedder: Embedder) -> Iterator[ServicesFactory]:
    """Build Services sharing the session's tiny embedder; closed after the test."""
    made: list[Services] = []

    def make(store: StoreSettings | None = None, **ingest: object) -> Services:
        update: dict[str, object] = {"ingest": settings.ingest.model_copy(update=ingest)}
        if store is not None:
            update["store"] = store
        services = Services(settings.model_copy(update=update))
        services.__dict__["embedder"] = tiny_embedder
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


@pytest.fixture
def services(make_services: ServicesFactory) -> Services:
    """Embedded Qdrant Edge under the test's data folder, tiny CLIP, default ingest settings."""
    return make_services()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "photos"
    path.mkdir()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty Redis (no persistence) for one test."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install redis-server (see .ci/run)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen([*args, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(10)

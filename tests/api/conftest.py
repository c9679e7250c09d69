"""Fixtures of the API tests: the real app over the tiny CLIP, embedded Qdrant Edge, extractive LLM.

One app per test module (models load once per session); tests that need other settings build
their own with :func:`make_settings`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from rag.config import ClipSettings, Settings
from rag.services import Services


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the session, so every app shares the process-wide tiny CLIP."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def make_settings(tiny_clip: ClipSettings, model_dir: Path):
    """``make_settings(data_dir, **overrides)``: test settings, ignoring any ``.env``."""

    def make(data_dir: Path, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "clip": tiny_clip.model_copy(update={"cache_dir": model_dir}),
            "rerank": {"model": "none"},
            "llm": {"backend": "extractive"},
            "ocr": {"mode": "off"},  # OCR tests turn it on
            **overrides,
        }
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture(scope="module")
def services(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    built = Services(make_settings(tmp_path_factory.mktemp("data")))
    yield built
    built.close()


@pytest.fixture(scope="module")
def client(services: Services) -> Iterator[TestClient]:
    """The real app, started (lifespan ran), for the whole module."""
    with TestClient(create_app(services=services)) as test_client:
        yield test_client


def png_bytes(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (24, 24)
) -> bytes:
    """A small solid-colour PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def add_item(
    services: Services,
    folder: Path,
    text: str,
    color: tuple[int, int, int] | None = None,
    metadata: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write one item straight into the store (text, and a PNG when ``color`` is given);
    ``extra`` payload keys are added as they are."""
    import datetime

    from rag import identity as ids
    from rag import payload as keys
    from rag.store.base import PointRecord

    data = png_bytes(color) if color else None
    digest = ids.content_hash(data, text)
    point_id = ids.point_id(services.store.collection, ids.item_key(None, digest))
    vectors = {"text": services.embedder.embed_texts([text])[0]}
    payload: dict[str, Any] = {
        keys.TEXT: text,
        keys.SOURCE: f"test/{point_id}.png" if data else "test",
        keys.ITEM_KEY: ids.item_key(None, digest),
        keys.CONTENT_HASH: digest,
        keys.HAS_IMAGE: data is not None,
        keys.HAS_TEXT: True,
        keys.METADATA: metadata or {},
        keys.INGESTED_AT: datetime.datetime.now(datetime.UTC).isoformat(),
        keys.IMAGE_PATH: None,
    }
    if data:
        path = folder.resolve() / f"{point_id}.png"
        path.write_bytes(data)
        vectors["image"] = services.embedder.embed_images([Image.open(path)])[0]
        payload.update({keys.IMAGE_PATH: str(path), keys.MIME: "image/png"})
        payload[keys.SOURCE_ROOT] = str(folder.resolve())  # pictures are served under it
        payload.update({keys.WIDTH: 24, keys.HEIGHT: 24})
    payload.update(extra or {})
    services.store.upsert([PointRecord(point_id, vectors, payload)])
    return point_id


@pytest.fixture(scope="module")
def live_url(services: Services) -> Iterator[str]:
    """The real app served by uvicorn on 127.0.0.1 (a free port), for clients that need a socket."""
    import threading
    import time

    import uvicorn

    config = uvicorn.Config(
        create_app(services=services), host="127.0.0.1", port=0, log_level="warning"
    )
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
    thread.join(timeout=10)

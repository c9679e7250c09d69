"""A small offline demo index for the examples (and the LangChain tests): coloured squares with
captions, embedded by the tiny random-weight CLIP, served by the real API on 127.0.0.1.

Example::

    services = demo_services(Path("/tmp/mmrag-demo"))
    with serve(services) as url:
        ...  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from rag.config import Settings
from rag.embedding.tiny import tiny_clip_settings
from rag.services import Services

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 60),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 40, 160),
}


def caption(name: str) -> str:
    return f"A {name} square drawn on a plain background. Its colour is {name}."


def write_pictures(root: Path) -> Path:
    """One ``<colour>.png`` with a ``<colour>.json`` sidecar (caption, id, metadata) per colour."""
    root.mkdir(parents=True, exist_ok=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (48, 48), rgb).save(root / f"{name}.png")
        sidecar = {"text": caption(name), "id": name, "metadata": {"colour": name}}
        (root / f"{name}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return root


def demo_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Tiny CLIP, no reranker, extractive answers, embedded store under ``data_dir``."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "clip": tiny_clip_settings(),
        "rerank": {"model": "none"},
        "llm": {"backend": "extractive"},
        **overrides,
    }
    return Settings(_env_file=None, **values)


def demo_services(data_dir: Path, **overrides: Any) -> Services:
    """Services over ``demo_settings`` with the demo pictures ingested."""
    from ingest.runner import ingest_paths

    services = Services(demo_settings(data_dir, **overrides))
    report = ingest_paths(services, [write_pictures(data_dir / "pictures")])
    if report.failed:
        raise RuntimeError(f"demo ingest failed: {report.to_dict()}")
    return services


@contextmanager
def serve(services: Services, timeout_s: float = 60.0) -> Iterator[str]:
    """The real mmrag API over ``services`` on 127.0.0.1 (a free port) in a thread; its URL."""
    import uvicorn

    from api.main import create_app

    config = uvicorn.Config(
        create_app(services=services), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the mmrag API did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

"""Fixtures shared by the whole suite: no network, tiny real models, real embedded stores."""

from __future__ import annotations

import os

# No test reaches a model hub; torch stays on one thread so parallel work does not thrash.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _name in list(os.environ):
    if _name.startswith("MMRAG_"):
        del os.environ[_name]

import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

from rag.config import ClipSettings, Settings, StoreSettings  # noqa: E402
from rag.embedding.tqdm_lock import keep_tqdm_lock_in_process  # noqa: E402

# Before any test forks (kill -9 and disk-full suites): a child killed holding tqdm's default,
# process-shared lock would hang this process (rag/embedding/tqdm_lock.py).
keep_tqdm_lock_in_process()

# No per-example deadline: the suite runs on every core of a shared machine, where a 200 ms
# example can take a second; the tests that bound time assert their own bounds.
hypothesis_settings.register_profile("mmrag", deadline=None)
hypothesis_settings.load_profile("mmrag")


@pytest.fixture(scope="session", autouse=True)
def onnx_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export folder for the session (``runtime=auto`` exports each model once, ~6 s),
    also for the ``mmrag`` processes that tests start."""
    folder = tmp_path_factory.mktemp("onnx-exports")
    os.environ["MMRAG_CLIP__EXPORT_DIR"] = str(folder)
    return folder


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder, so a stray ``.env`` or ``data/`` is never shared."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def tiny_clip(onnx_exports: Path) -> ClipSettings:
    """Settings of the tiny random-weight CLIP registered for tests."""
    from rag.embedding.tiny import tiny_clip_settings

    return tiny_clip_settings().model_copy(update={"export_dir": onnx_exports})


@pytest.fixture(scope="session")
def tiny_embedder(tiny_clip: ClipSettings, tmp_path_factory: pytest.TempPathFactory):
    """One tiny CLIP embedder for the whole session (real open_clip code, random weights)."""
    from rag.embedding import load_embedder

    embedder = load_embedder(tiny_clip, tmp_path_factory.mktemp("models"))
    embedder.warm_up()
    return embedder


@pytest.fixture
def settings(tmp_path: Path, tiny_clip: ClipSettings) -> Settings:
    """Embedded defaults under a temporary data folder, tiny CLIP, no reranker, extractive LLM."""
    return Settings(
        data_dir=tmp_path / "data",
        clip=tiny_clip,
        store=StoreSettings(),
        rerank={"model": "none"},
        llm={"backend": "extractive"},
        ocr={"mode": "off"},  # OCR tests turn it on (tests/ingest/test_ocr.py)
    )


@pytest.fixture(params=["edge", "local"])
def store_settings(request: pytest.FixtureRequest) -> StoreSettings:
    """Both engines: embedded Qdrant Edge, and qdrant-client's local mode (the server code path)."""
    return StoreSettings(url="" if request.param == "edge" else ":memory:")


@pytest.fixture
def tiny_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``mmrag`` with the tiny random CLIP, embedded store under ``tmp_path/data``."""
    env = {
        "MMRAG_DATA_DIR": str(tmp_path / "data"),
        "MMRAG_CLIP__MODEL": "mmrag-tiny",
        "MMRAG_CLIP__PRETRAINED": "",
        "MMRAG_CLIP__THREADS": "1",
        "MMRAG_RERANK__MODEL": "none",
        "MMRAG_LLM__BACKEND": "extractive",
        "MMRAG_LOG_LEVEL": "WARNING",
        "MMRAG_OCR__MODE": "off",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty real ``redis-server`` (Debian's package, installed by ``.ci/run``) on a
    loopback port, no persistence, for one test."""
    import redis

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


@pytest.fixture(scope="session")
def llama_server():
    """llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``) running
    SmolLM2 on loopback, started once per session (at most 60 s) and stopped at its end."""
    from rag.testing.llama_cpp_server import LlamaCppServer

    with LlamaCppServer(n_ctx=2048) as server:
        yield server


@pytest.fixture(autouse=True)
def _libreoffice_only_where_asked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Word and PowerPoint files are read without LibreOffice's pages (as where it is not
    installed) except in tests marked ``office_pages``: a conversion takes ~3 s a document."""
    if request.node.get_closest_marker("office_pages") is None:
        from ingest.documents import office_pages

        monkeypatch.setattr(office_pages, "which", lambda name: None)

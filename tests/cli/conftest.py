"""Fixtures of the CLI tests: environments that point ``mmrag`` at the tiny or the demo model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rag.demo.fixtures import demo_model_for_tests


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
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def demo_cache(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    """The model cache folder that holds the test-budget demo model."""
    return demo_model_for_tests(request.config, tmp_path_factory).parent

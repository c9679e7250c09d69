"""The demo model for tests: the ``test`` budget, trained once and kept in pytest's cache folder
(``.pytest_cache``), so later sessions load it in a second; a fresh checkout trains it once."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.demo.model import ensure_demo_model


def demo_model_for_tests(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the test-budget demo model (trained on first use)."""
    cache = getattr(config, "cache", None)
    folder = Path(cache.mkdir("mmrag-demo-model")) if cache else tmp_path_factory.mktemp("demo")
    return ensure_demo_model(folder, budget="test")

"""Session fixtures of the demo tests: the offline demo model (test budget) and its embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import ClipSettings
from rag.demo.model import demo_clip_settings
from rag.embedding import Embedder, load_embedder
from tests.rag.demo.fixtures import demo_model_for_tests


@pytest.fixture(scope="session")
def demo_model_dir(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    """The demo model's checkpoint folder (trained once, about a minute on one thread)."""
    return demo_model_for_tests(request.config, tmp_path_factory)


@pytest.fixture(scope="session")
def demo_clip(demo_model_dir: Path) -> ClipSettings:
    return demo_clip_settings(demo_model_dir, threads=1, batch_size=32)


@pytest.fixture(scope="session")
def demo_embedder(demo_clip: ClipSettings, tmp_path_factory) -> Embedder:
    embedder = load_embedder(demo_clip, tmp_path_factory.mktemp("demo-cache"))
    embedder.warm_up()
    return embedder

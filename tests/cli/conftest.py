"""Fixtures of the CLI tests: environments that point ``mmrag`` at the tiny or the demo model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rag.demo.fixtures import demo_model_for_tests


@pytest.fixture(scope="session")
def demo_cache(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    """The model cache folder that holds the test-budget demo model."""
    return demo_model_for_tests(request.config, tmp_path_factory).parent

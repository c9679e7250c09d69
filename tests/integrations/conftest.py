"""Fixtures of the LangChain tests: the demo index (tiny CLIP, extractive LLM) in process and
served by the real API on 127.0.0.1."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from examples.demo import demo_services, serve
from rag.config import ClipSettings
from rag.services import Services

API_KEY = "test-key"

if importlib.util.find_spec("langchain_core") is None:  # the `langchain` extra is not installed
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def shared_clip(tiny_clip: ClipSettings, tmp_path_factory: pytest.TempPathFactory) -> ClipSettings:
    """The tiny CLIP with one cache folder, so every index of the session shares one model."""
    return tiny_clip.model_copy(update={"cache_dir": tmp_path_factory.mktemp("models")})


@pytest.fixture(scope="module")
def services(
    shared_clip: ClipSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    """The demo pictures ingested into embedded Qdrant Edge; API key ``API_KEY``."""
    built = demo_services(tmp_path_factory.mktemp("data"), clip=shared_clip, api_keys=[API_KEY])
    yield built
    built.close()


@pytest.fixture(scope="module")
def live_url(services: Services) -> Iterator[str]:
    """The real API over ``services`` on 127.0.0.1."""
    with serve(services) as url:
        yield url

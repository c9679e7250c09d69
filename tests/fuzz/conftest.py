"""Fixtures of the fuzz suite: the real app served from a forked child, keys off or on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import make_settings, model_dir  # noqa: F401 - shared fixtures
from tests.fuzz.server import seed, served

WRITER, READER = "fuzz-writer", "fuzz-reader"


def _server(keys: bool, make_settings, embedder, tmp_path_factory) -> Iterator[dict[str, Any]]:  # noqa: F811
    api_keys = [f"{WRITER}:fuzz:write", f"{READER}:fuzz:read"] if keys else []
    config = make_settings(tmp_path_factory.mktemp("data"), api_keys=api_keys)
    with served(config, embedder) as (url, pid):
        seed(url, {"X-API-Key": WRITER} if keys else {})
        yield {"url": url, "pid": pid, "keys": keys}


@pytest.fixture(scope="module", params=["keys-off", "keys-on"])
def server(request, make_settings, tiny_embedder, tmp_path_factory) -> Iterator[dict[str, Any]]:  # noqa: F811
    """The app, seeded with a picture, a text and a Markdown document; keys off, then on (a
    writer's and a reader's key of tenant ``fuzz``)."""
    yield from _server(request.param == "keys-on", make_settings, tiny_embedder, tmp_path_factory)


@pytest.fixture(scope="module")
def open_server(make_settings, tiny_embedder, tmp_path_factory) -> Iterator[dict[str, Any]]:  # noqa: F811
    """The seeded app with keys off."""
    yield from _server(False, make_settings, tiny_embedder, tmp_path_factory)

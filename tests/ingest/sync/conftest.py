"""Fixtures of the synced-source tests: services whose ingest roots hold the test's folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sync.registry import SourceRegistry
from rag import payload as keys
from rag.services import Services
from rag.store.base import Filter, MatchValue
from tests.ingest.conftest import ServicesFactory


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "roots"
    path.mkdir()
    return path


@pytest.fixture
def synced(make_services: ServicesFactory, root: Path) -> Services:
    """Services whose ``MMRAG_INGEST__ROOTS`` is the test's ``roots`` folder."""
    return make_services(roots=[root])


@pytest.fixture
def registry(synced: Services) -> SourceRegistry:
    return SourceRegistry.for_settings(synced.settings)


def sources_of(services: Services, root: str) -> dict[str, int]:
    """``source -> points`` of the points under ``root`` (payload ``source_root``)."""
    store = services.store_for(None)
    found: dict[str, int] = {}
    offset = None
    flt = Filter(must=(MatchValue(keys.SOURCE_ROOT, root),))
    while True:
        page, offset = store.scroll(flt, limit=256, offset=offset)
        for point in page:
            name = str(point.payload.get(keys.SOURCE))
            found[name] = found.get(name, 0) + 1
        if offset is None:
            return found

"""Fixtures of the ingest tests: Services on the tiny CLIP, both store engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.config import Settings, StoreSettings
from rag.embedding.base import Embedder
from rag.services import Services

ServicesFactory = Callable[..., Services]


@pytest.fixture
def make_services(settings: Settings, tiny_embedder: Embedder) -> Iterator[ServicesFactory]:
    """Build Services sharing the session's tiny embedder; closed after the test."""
    made: list[Services] = []

    def make(store: StoreSettings | None = None, **ingest: object) -> Services:
        update: dict[str, object] = {"ingest": settings.ingest.model_copy(update=ingest)}
        if store is not None:
            update["store"] = store
        services = Services(settings.model_copy(update=update))
        services.__dict__["embedder"] = tiny_embedder
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


@pytest.fixture
def services(make_services: ServicesFactory) -> Services:
    """Embedded Qdrant Edge under the test's data folder, tiny CLIP, default ingest settings."""
    return make_services()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "photos"
    path.mkdir()
    return path

"""Store fixtures: every contract test runs against each engine of ``store_settings``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import StoreSettings
from rag.store import VectorStore, open_store

from .helpers import LAYOUT


@pytest.fixture
def empty_store(store_settings: StoreSettings, tmp_path: Path) -> Iterator[VectorStore]:
    """An opened store of the engine under test whose collection does not exist yet."""
    store = open_store(store_settings, tmp_path / "data", "contract")
    yield store
    store.close()


@pytest.fixture
def store(empty_store: VectorStore) -> VectorStore:
    """A store of the engine under test with an empty collection of ``DIM``-sized vectors."""
    empty_store.ensure_collection(LAYOUT)
    return empty_store

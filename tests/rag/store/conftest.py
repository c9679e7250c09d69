"""Store fixtures: every contract test runs against each engine of :data:`ENGINES`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import StoreSettings
from rag.store import VectorStore, open_store
from rag.tenancy import TenantStore

from .helpers import LAYOUT, random_points

ENGINES = ("edge", "edge-copy", "edge-copy-lists", "local", "tenant")
"""Qdrant Edge without its vector copy; with it (small unfiltered searches scan the copy); with
it scoring the engine's lists (no scan); qdrant-client's local mode (the server code path); a
:class:`TenantStore` over Qdrant Edge with the copy, beside another tenant's points (without
lexical terms: they would change the IDF)."""


def engine_settings(engine: str) -> StoreSettings:
    if engine == "local":
        return StoreSettings(url=":memory:")
    if engine == "edge":
        return StoreSettings(vector_copy_max_points=0)
    if engine == "edge-copy-lists":
        return StoreSettings(exact_scan_max_points=0)
    return StoreSettings()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


PAYLOAD_EXACT = {
    "test_collection_lifecycle",
    "test_upsert_get_in_order_with_vectors",
    "test_upsert_is_idempotent_and_replaces",
    "test_payload_json_round_trip",
}
"""Tests of the collection's name or of payloads read back exactly, which a tenant's view
changes (its points carry the tenant's name): ``test_tenancy.py`` covers those."""


@pytest.fixture
def empty_store(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[VectorStore]:
    """An opened store of the engine under test whose collection does not exist yet."""
    if engine == "tenant" and request.node.originalname in PAYLOAD_EXACT:
        pytest.skip("a tenant's payloads carry its name")
    base = open_store(engine_settings(engine), tmp_path / "data", "contract")
    yield TenantStore(base, "t1") if engine == "tenant" else base
    base.close()


@pytest.fixture
def store(empty_store: VectorStore, engine: str) -> VectorStore:
    """A store of the engine under test with an empty collection of ``DIM``-sized vectors."""
    empty_store.ensure_collection(LAYOUT)
    with_copy(empty_store, engine)
    return empty_store


def with_copy(store: VectorStore, engine: str) -> None:
    """Start the vector copy of an ``edge-copy`` engine now, so that it follows every write
    (it is otherwise filled in the background from the first search on); another tenant's
    points beside a ``tenant`` engine's."""
    if engine == "tenant":
        assert isinstance(store, TenantStore)
        TenantStore(store.base, "t2").upsert(
            random_points(25, seed=77, signals=False, first_id=5000)
        )
        store = store.base
    if engine in ("edge-copy", "edge-copy-lists", "tenant"):
        assert store.copies_vectors(wait=10)  # type: ignore[attr-defined]

"""TenantStore on every engine: a tenant reads, counts, searches and deletes only its points."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rag import payload as keys
from rag.store import Filter, MatchValue, VectorStore
from rag.store.edge import EdgeStore
from rag.tenancy import TenantStore

from .helpers import DIM, make_id, random_points


@pytest.fixture(params=["edge", "edge-copy", "local"])
def engine(request: pytest.FixtureRequest) -> str:
    """The base engines (not a tenant's view: these tests make their own)."""
    return str(request.param)


def _two_tenants(store: VectorStore) -> tuple[TenantStore, TenantStore, list, list]:
    a, b = TenantStore(store, "a"), TenantStore(store, "b")
    points_a = random_points(12, seed=1)
    points_b = [replace(p, id=make_id(1000 + n)) for n, p in enumerate(random_points(12, seed=2))]
    a.upsert(points_a)
    b.upsert(points_b)
    return a, b, points_a, points_b


def test_each_tenant_sees_only_its_points(store: VectorStore) -> None:
    a, b, points_a, points_b = _two_tenants(store)
    assert (a.count(), b.count(), store.count()) == (12, 12, 24)
    assert a.get([p.id for p in points_b]) == []
    assert {p.id for p in a.get([p.id for p in points_a])} == {p.id for p in points_a}
    page, _ = a.scroll(limit=100)
    assert {p.payload[keys.TENANT] for p in page} == {"a"} and len(page) == 12
    query = np.ones(DIM, np.float32) / np.sqrt(DIM)
    hits = store.get(a.candidates({"text": query}, 50).ids)
    assert hits and {h.payload[keys.TENANT] for h in hits} == {"a"}
    found = b.candidates({"image": query, "text": query}, 50)
    assert {h.payload[keys.TENANT] for h in store.get(found.ids)} == {"b"}
    source = points_a[0].payload[keys.SOURCE]
    flt = Filter(must=(MatchValue(keys.SOURCE, source),))
    assert a.count(flt) == sum(p.payload[keys.SOURCE] == source for p in points_a)


def test_a_tenant_finds_and_scores_only_its_points(store: VectorStore) -> None:
    a, _, points_a, _ = _two_tenants(store)
    query = np.ones(DIM, np.float32) / np.sqrt(DIM)
    mine = {p.id for p in points_a}
    if isinstance(store, EdgeStore):
        store.copies_vectors(wait=10)  # the copy scores the engine's filtered lists
    found = a.candidates({"image": query, "text": query}, 50)
    assert found.ids and set(found.ids) <= mine
    assert len(found.ids) == sum("image" in p.vectors or "text" in p.vectors for p in points_a)


def test_a_tenant_deletes_only_its_points(store: VectorStore) -> None:
    a, b, _, points_b = _two_tenants(store)
    a.delete([p.id for p in points_b])  # B's ids: nothing happens
    assert b.count() == 12
    a.delete_by_filter(Filter())
    assert (a.count(), b.count()) == (0, 12)


def test_tenant_index_on_edge(store: VectorStore) -> None:
    if isinstance(store, EdgeStore):
        schema = store._require_shard().info().payload_schema
        assert schema[keys.TENANT].params.is_tenant

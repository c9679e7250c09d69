"""TenantStore on every engine: a tenant reads, counts, searches and deletes only its points."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag import payload as keys
from rag.embedding.base import SparseTerms
from rag.store import Filter, MatchValue, PointRecord, VectorStore
from rag.store.edge import EdgeStore
from rag.tenancy import TenantStore, TermSpace, term_key

from .helpers import DIM, make_id, random_points, unit


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


def _lexical_point(n: int, term_ids: tuple[int, ...]) -> PointRecord:
    rng = np.random.default_rng(n)
    vectors = {"image": unit(rng), "text": unit(rng)}
    vectors["lexical"] = SparseTerms(term_ids, tuple(1.0 for _ in term_ids))
    return PointRecord(make_id(n), vectors, {keys.SOURCE: f"{n}.txt"})


def _lexical_score(tenant: TenantStore, word: int) -> float:
    found = tenant.candidates({"lexical": SparseTerms((word,), (1.0,))}, 10)
    scores = found.column("lexical")
    assert len(found.ids) == 1
    return float(scores[0])


def test_a_tenants_lexical_score_does_not_tell_how_many_of_another_tenants_points_hold_a_word(
    store: VectorStore,
) -> None:
    a, b = TenantStore(store, "a", b"k"), TenantStore(store, "b", b"k")
    word, other = 7, 8
    a.upsert([_lexical_point(1, (word,)), _lexical_point(2, (other,))])
    b.upsert([_lexical_point(100 + n, (other,)) for n in range(30)])
    before = _lexical_score(a, word)
    # b's 30 points now hold the word: as many points as before, so only the word's document
    # frequency among b's points changed.
    b.upsert([_lexical_point(100 + n, (word,)) for n in range(30)])
    assert _lexical_score(a, word) == pytest.approx(before, rel=1e-6)


def test_a_tenants_terms_read_back_as_written_and_no_two_share_an_id() -> None:
    space = TermSpace("acme", b"key")
    ids = tuple(range(0, 1 << 32, 9973))[:5000]
    terms = SparseTerms(ids, tuple(float(i % 7) for i in range(len(ids))))
    mapped = space.encode(terms)
    assert len(set(mapped.indices)) == len(ids) and list(mapped.indices) == sorted(mapped.indices)
    assert space.decode(mapped) == terms
    assert TermSpace("other", b"key").encode(terms) != mapped
    assert TermSpace("acme", b"another key").encode(terms) != mapped


def test_a_tenant_gets_its_lexical_vectors_back_in_the_encoders_ids(store: VectorStore) -> None:
    a = TenantStore(store, "a", b"k")
    point = _lexical_point(1, (3, 5, 4_000_000_000))
    a.upsert([point])
    (read,) = a.get([point.id], with_vectors=True)
    assert read.vectors["lexical"] == point.vectors["lexical"]
    page, _ = a.scroll(with_vectors=True)
    assert page[0].vectors["lexical"] == point.vectors["lexical"]


def test_the_term_key_is_written_once_and_read_back(tmp_path: Path) -> None:
    first = term_key(tmp_path / "files")
    assert len(first) == 32 and term_key(tmp_path / "files") == first
    assert term_key(tmp_path / "elsewhere") != first

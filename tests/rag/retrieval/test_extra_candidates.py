"""Extra candidates (the items an earlier answer cited): merged into each signal's list by exact
score, searched within the query's filter and the tenant's points only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.config import RetrievalSettings, StoreSettings
from rag.retrieval.extra_candidates import merged_candidates, restricted
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Query
from rag.store import CollectionLayout, Filter, HasId, MatchValue, PointRecord, open_store
from rag.store.candidates import Candidates
from rag.tenancy import TenantStore


def candidates(lists: dict[str, list[tuple[str, float]]]) -> Candidates:
    return Candidates.from_lists(lists, {name: True for name in lists}, None)


def test_merged_candidates_place_each_extra_point_by_its_exact_score() -> None:
    found = candidates({"image": [("a", 0.9), ("b", 0.5)], "text": [("b", 0.8)]})
    extra = candidates({"image": [("c", 0.7), ("b", 0.5)], "text": [("c", 0.1)]})
    merged = merged_candidates(found, extra)
    assert merged.ids == ["a", "b", "c"]
    rows, scores = merged.ranked("image")
    assert [merged.ids[r] for r in rows.tolist()] == ["a", "c", "b"]
    assert scores.tolist() == [0.9, 0.7, 0.5]
    rows, _ = merged.ranked("text")
    assert [merged.ids[r] for r in rows.tolist()] == ["b", "c"]
    np.testing.assert_allclose(merged.table()[2], [0.7, 0.1])


def test_merged_candidates_without_extra_points_are_the_found_ones() -> None:
    found = candidates({"image": [("a", 0.9)]})
    assert merged_candidates(found, candidates({"image": []})) is found


def test_restricted_keeps_the_querys_filter_and_adds_the_ids() -> None:
    flt = Filter(must=(MatchValue("source", "x"),))
    assert restricted(flt, ["i"]).must == (MatchValue("source", "x"), HasId(("i",)))
    assert restricted(None, ["i"]) == Filter(must=(HasId(("i",)),))


def test_a_tenants_search_never_ranks_another_tenants_cited_items(
    tiny_embedder, tmp_path: Path
) -> None:
    store = open_store(StoreSettings(), tmp_path / "data", "cited")
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
    texts = ["a red car", "a blue car", "a green tree", "a yellow kite"]
    vectors = tiny_embedder.embed_texts(texts)
    mine, theirs = TenantStore(store, "a"), TenantStore(store, "b")
    ids_a = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(4)]
    ids_b = [f"00000000-0000-4000-8000-00000000001{n}" for n in range(4)]
    for tenant, ids in ((mine, ids_a), (theirs, ids_b)):
        tenant.upsert([
            PointRecord(pid, {"text": v}, {"text": t, "has_text": True, "has_image": False})
            for pid, v, t in zip(ids, vectors, texts, strict=True)
        ])  # fmt: skip
    retriever = Retriever(tiny_embedder, mine, RetrievalSettings(prefetch_limit=1))
    result = retriever.search(Query(text="a blue car", top_k=8, candidates=tuple(ids_b)))
    found = {hit.id for hit in result.hits}
    assert found and found <= set(ids_a)
    store.close()

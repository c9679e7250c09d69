"""The retriever on both engines against a brute-force numpy reference over the known corpus."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rag.config import RetrievalSettings
from rag.errors import InvalidInputError
from rag.retrieval.fusion import QDRANT_RRF_K
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Query, SearchResult
from rag.store import CollectionLayout

from .conftest import Item

NAMES = ("image", "text")


def brute_force_lists(items: list[Item], q: np.ndarray, limit: int) -> dict[str, list]:
    """Each vector's ``limit`` nearest items by exact cosine: ``[(id, cos), ...]``."""
    lists = {}
    for name in NAMES:
        scored = [
            (item.id, float(item.vectors[name] @ q / np.linalg.norm(item.vectors[name])))
            for item in items
            if name in item.vectors
        ]
        lists[name] = sorted(scored, key=lambda pair: -pair[1])[:limit]
    return lists


def reference(
    items: list[Item], q: np.ndarray, mode: str, limit: int, k: int, weights: dict[str, float]
) -> list[tuple[str, float]]:
    """The fused ranking written out longhand, independent of rag.retrieval.fusion."""
    lists = brute_force_lists(items, q, limit)
    sims = {item.id: {n: float(item.vectors[n] @ q) for n in item.vectors} for item in items}
    scores: dict[str, float] = {}
    if mode == "rrf":
        mean = (weights["image"] + weights["text"]) / 2
        for name in NAMES:
            w = weights[name] / mean
            for pos, (pid, _) in enumerate(lists[name]):
                scores[pid] = scores.get(pid, 0.0) + 1 / ((pos + 1) / w + k - 1)
    elif mode == "dbsf":
        for name in NAMES:
            values = np.array([s for _, s in lists[name]])
            lo = values.mean() - 3 * values.std(ddof=1)
            hi = values.mean() + 3 * values.std(ddof=1)
            for pid, s in lists[name]:
                scores[pid] = scores.get(pid, 0.0) + (s - lo) / (hi - lo)
    else:
        for pid in {pid for name in NAMES for pid, _ in lists[name]}:
            present = [n for n in NAMES if n in sims[pid] and weights[n] > 0]
            total = sum(weights[n] for n in present)
            scores[pid] = sum(weights[n] * sims[pid][n] for n in present) / total
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def assert_matches(result: SearchResult, expected: list[tuple[str, float]], top_k: int) -> None:
    assert [hit.id for hit in result.hits] == [pid for pid, _ in expected[:top_k]]
    for hit, (_, score) in zip(result.hits, expected, strict=False):
        assert hit.scores.fused == pytest.approx(score, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("mode", ["rrf", "dbsf", "weighted"])
def test_fusion_modes_match_brute_force_reference(
    retriever: Retriever, corpus: list[Item], mode: str
) -> None:
    query = Query(text="a red thing", fusion=mode, top_k=10)
    q = retriever.embed_query(query)
    weights = {"image": 0.5, "text": 0.5}
    expected = reference(corpus, q, mode, 12, retriever.settings.rrf_k, weights)
    assert_matches(retriever.search(query), expected, 10)


@pytest.mark.parametrize("mode", ["rrf", "weighted"])
def test_request_weights_match_reference(retriever: Retriever, corpus: list[Item], mode: str):
    query = Query(text="blue", fusion=mode, top_k=8, weights={"image": 0.2, "text": 0.8})
    q = retriever.embed_query(query)
    expected = reference(corpus, q, mode, 12, retriever.settings.rrf_k, query.weights or {})
    assert_matches(retriever.search(query), expected, 8)


def test_rrf_with_qdrants_k_matches_reference(retriever: Retriever, corpus: list[Item]) -> None:
    settings = retriever.settings.model_copy(update={"rrf_k": QDRANT_RRF_K})
    engine = Retriever(retriever.embedder, retriever.store, settings)
    query = Query(text="green", fusion="rrf", top_k=10)
    expected = reference(
        corpus, engine.embed_query(query), "rrf", 12, QDRANT_RRF_K, {"image": 1, "text": 1}
    )
    assert_matches(engine.search(query), expected, 10)


def test_hits_carry_exact_cosines_and_payload(retriever: Retriever, corpus: list[Item]) -> None:
    query = Query(text="a yellow thing", fusion="rrf", top_k=10)
    q = retriever.embed_query(query).astype(np.float64)
    by_id = {item.id: item for item in corpus}
    result = retriever.search(query)
    assert set(result.timings) == {"encode", "store", "fuse"}
    for hit in result.hits:
        item = by_id[hit.id]
        for name in NAMES:
            got = getattr(hit.scores, name)
            if name in item.vectors:
                assert got == pytest.approx(float(item.vectors[name] @ q), abs=1e-6)
            else:
                assert got is None
        assert hit.payload["external_id"] == item.external_id
        assert hit.scores.rerank is None


def test_items_missing_a_vector_are_ranked_by_the_one_they_have(
    retriever: Retriever, corpus: list[Item]
) -> None:
    target = next(item for item in corpus if "image" not in item.vectors)
    plan = retriever.plan(Query(text="x", fusion="weighted"))
    # the query vector is the item's own text vector: cosine 1, renormalised weight 1
    hits = retriever.fused_hits(plan, target.vectors["text"], None, {})
    assert hits[0].id == target.id
    assert hits[0].scores.image is None
    assert hits[0].scores.fused == pytest.approx(1.0, abs=1e-6)


def test_zero_weight_leaves_out_items_without_the_weighted_vector(retriever: Retriever) -> None:
    result = retriever.search(Query(text="red", fusion="weighted", weights={"image": 1.0}))
    assert result.hits and all(hit.scores.image is not None for hit in result.hits)
    assert all(hit.scores.fused == pytest.approx(hit.scores.image) for hit in result.hits)


def test_text_and_image_query_uses_the_normalised_mean(retriever: Retriever) -> None:
    image = Image.new("RGB", (40, 30), (200, 30, 30))
    both = retriever.embed_query(Query(text="a red thing", image=image))
    text = retriever.embed_query(Query(text="a red thing"))
    picture = retriever.embed_query(Query(image=image))
    expected = (text + picture) / np.linalg.norm(text + picture)
    np.testing.assert_allclose(both, expected, atol=1e-6)
    assert retriever.search(Query(text="a red thing", image=image, top_k=5)).hits


def test_image_only_query(retriever: Retriever) -> None:
    image = Image.new("RGB", (32, 32), (10, 200, 10))
    hits = retriever.search(Query(image=image, fusion="dbsf", top_k=4)).hits
    assert len(hits) == 4


def test_engines_with_and_without_the_vector_copy_rank_alike(
    tiny_embedder, corpus, tmp_path
) -> None:
    from rag.config import StoreSettings
    from rag.store import PointRecord, open_store

    rankings = []
    # the copy scanned; the copy scoring the engine's lists; the engine alone; qdrant-client
    for url, copy, scan in (("", 20_000, 8000), ("", 20_000, 0), ("", 0, 0), (":memory:", 0, 0)):
        settings = StoreSettings(url=url, vector_copy_max_points=copy, exact_scan_max_points=scan)
        store = open_store(settings, tmp_path / f"data{len(rankings)}", "alike")
        store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
        store.upsert([PointRecord(i.id, i.vectors, i.payload) for i in corpus])
        if copy:
            assert store.copies_vectors(wait=10)  # type: ignore[attr-defined]
        retriever = Retriever(tiny_embedder, store, RetrievalSettings(prefetch_limit=15))
        rankings.append(
            [
                [
                    (h.id, h.scores.fused)
                    for h in retriever.search(Query(text=text, fusion=mode, top_k=12)).hits
                ]
                for mode in ("rrf", "dbsf", "weighted")
                for text in ("red", "number 7", "a blue thing")
            ]
            + [
                [
                    (h.id, h.scores.fused)
                    for h in retriever.search(Query(text="red", weights=weights, top_k=12)).hits
                ]
                for weights in ({"image": 3, "text": 1}, {"image": 0, "text": 1})
            ]
        )
        store.close()
    for scanned, *others in zip(*rankings, strict=True):
        for other in others:
            assert [pid for pid, _ in scanned] == [pid for pid, _ in other]
            np.testing.assert_allclose([f for _, f in scanned], [f for _, f in other], atol=1e-5)


@pytest.mark.parametrize(
    ("mode", "scan_up_to"),
    # the store's scan of the collection; for weighted also its scan of the engine's lists
    [("rrf", 8000), ("dbsf", 8000), ("weighted", 8000), ("weighted", 0)],
)
def test_a_scanned_search_takes_its_lists_and_signal_scores_from_the_scan(
    tiny_embedder, corpus, tmp_path, mode: str, scan_up_to: int
) -> None:
    from rag.config import StoreSettings
    from rag.store import PointRecord, open_store

    settings = StoreSettings(url="", exact_scan_max_points=scan_up_to)
    store = open_store(settings, tmp_path / "data", "scanned")
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
    store.upsert([PointRecord(i.id, i.vectors, i.payload) for i in corpus])
    assert store.copies_vectors(wait=10)  # type: ignore[attr-defined]
    asked: list[str] = []
    query_each, scores_of = store._query_each, store._scores_of  # type: ignore[attr-defined]
    store._query_each = lambda *args, **kwargs: (  # type: ignore[attr-defined]
        asked.append("lists") or query_each(*args, **kwargs)
    )
    store._scores_of = lambda *args: asked.append("scores") or scores_of(*args)  # type: ignore
    retriever = Retriever(tiny_embedder, store, RetrievalSettings(prefetch_limit=12))
    query = Query(text="a red thing", fusion=mode, top_k=10)  # type: ignore[arg-type]
    q = retriever.embed_query(query).astype(np.float64)
    hits = retriever.search(query).hits
    assert len(hits) == 10 and asked == ([] if scan_up_to else ["lists"])
    by_id = {item.id: item for item in corpus}
    for hit in hits:
        for name in NAMES:
            vector = by_id[hit.id].vectors.get(name)
            expected = None if vector is None else pytest.approx(float(vector @ q), abs=1e-6)
            assert getattr(hit.scores, name) == expected
    store.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Query(), "text, an image"),
        (Query(text="  "), "empty"),
        (Query(text="x", top_k=0), "top_k"),
        (Query(text="x", top_k=101), "MAX_TOP_K"),
        (Query(text="x", fusion="max"), "rrf, dbsf, weighted"),  # type: ignore[arg-type]
        (Query(text="x", weights={"image": 0, "text": 0}), "not all zero"),
        (Query(text="x", weights={"audio": 1}), "audio"),
        (Query(text="x", weights={"image": -1, "text": 1}), "negative"),
        (Query(text="x", rerank=True), "MMRAG_RERANK__MODEL"),
    ],
)
def test_bad_requests_say_what_to_do(retriever: Retriever, query: Query, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        retriever.search(query)


def test_top_k_above_prefetch_limit_is_served(retriever: Retriever) -> None:
    hits = retriever.search(Query(text="x", fusion="weighted", top_k=40)).hits
    assert len(hits) == 40
    assert not any(math.isnan(hit.scores.fused) for hit in hits)


class CountingStore:
    """The real store, counting the points whose vectors ``get`` reads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, ids: list[str], with_vectors: bool = False) -> Any:
        self.read += len(ids)
        return self.inner.get(ids, with_vectors=with_vectors)


@pytest.mark.parametrize("weights", [{"image": 0.5, "text": 0.5}, {"image": 0.9, "text": 0.1}])
def test_weighted_reads_few_vectors_and_stays_exact(
    retriever: Retriever, corpus: list[Item], weights: dict[str, float]
) -> None:
    store = CountingStore(retriever.store)
    counted = Retriever(retriever.embedder, store, retriever.settings)  # type: ignore[arg-type]
    query = Query(text="a green thing", fusion="weighted", top_k=3, weights=weights)
    q = counted.embed_query(query)
    expected = reference(corpus, q, "weighted", 12, 60, weights)
    assert_matches(counted.search(query), expected, 3)
    union = {pid for lst in brute_force_lists(corpus, q, 12).values() for pid, _ in lst}
    assert store.read < len(union)

"""Congruence: the same points in Qdrant Edge and in qdrant-client's local mode give the same
answers (dense, passage and lexical searches, RRF with any k and weights, DBSF, counts, scroll
pages)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.config import StoreSettings
from rag.embedding.base import SparseTerms
from rag.store import Filter, Prefetch, ScoredPoint, VectorStore, open_store

from .helpers import LAYOUT, PASSAGE_DIM, random_points, unit
from .test_contract import FILTERS

N_POINTS = 300
QUERIES = [unit(np.random.default_rng(100 + i)) for i in range(6)]
FLTS: list[Filter | None] = [None, FILTERS["any-of"], FILTERS["combined"], FILTERS["datetime"]]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VectorStore, VectorStore]]:
    folder = tmp_path_factory.mktemp("congruence")
    edge = open_store(StoreSettings(), Path(folder))
    local = open_store(StoreSettings(url=":memory:"), Path(folder))
    points = random_points(N_POINTS, seed=42)
    for store in (edge, local):
        store.ensure_collection(LAYOUT)
        for start in range(0, N_POINTS, 64):
            store.upsert(points[start : start + 64])
    yield edge, local
    edge.close()
    local.close()


def assert_same_hits(a: list[ScoredPoint], b: list[ScoredPoint], tol: float) -> None:
    assert [h.id for h in a] == [h.id for h in b]
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=tol)
    assert [h.payload for h in a] == [h.payload for h in b]


@pytest.mark.parametrize("flt", FLTS)
def test_counts_and_scroll_pages(engines: tuple[VectorStore, VectorStore], flt: Filter) -> None:
    edge, local = engines
    assert edge.count(flt) == local.count(flt)
    offsets: tuple[str | None, str | None] = (None, None)
    while True:
        (page_e, next_e), (page_l, next_l) = (
            store.scroll(flt, limit=37, offset=offset)
            for store, offset in zip(engines, offsets, strict=True)
        )
        assert page_e == page_l and next_e == next_l
        if next_e is None:
            break
        offsets = (next_e, next_l)


@pytest.mark.parametrize("flt", FLTS)
@pytest.mark.parametrize("vector_name", ["image", "text"])
def test_search(engines: tuple[VectorStore, VectorStore], vector_name: str, flt: Filter) -> None:
    edge, local = engines
    for query in QUERIES:
        assert_same_hits(
            edge.search(vector_name, query, 20, flt),  # type: ignore[arg-type]
            local.search(vector_name, query, 20, flt),  # type: ignore[arg-type]
            tol=1e-5,
        )


def fused_both(
    engines: tuple[VectorStore, VectorStore],
    prefetches: list[Prefetch],
    fusion: str,
    limit: int,
    flt: Filter | None,
) -> tuple[list[ScoredPoint], list[ScoredPoint]]:
    edge, local = engines
    return (
        edge.fused_query(prefetches, fusion, limit, flt),  # type: ignore[arg-type]
        local.fused_query(prefetches, fusion, limit, flt),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("flt", FLTS)
@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_fused_query(engines: tuple[VectorStore, VectorStore], fusion: str, flt: Filter) -> None:
    for q_img, q_txt in zip(QUERIES, QUERIES[::-1], strict=True):
        prefetches = [Prefetch("image", q_img, 20), Prefetch("text", q_txt, 20)]
        # A limit that holds every candidate: no tie is cut, so the whole ranking must agree.
        assert_same_hits(*fused_both(engines, prefetches, fusion, 40, flt), tol=1e-4)
        # A short page agrees on its scores, and on the ids above the last (possibly tied) score.
        short_e, short_l = fused_both(engines, prefetches, fusion, 10, flt)
        scores_e, scores_l = [h.score for h in short_e], [h.score for h in short_l]
        np.testing.assert_allclose(scores_e, scores_l, atol=1e-4)
        cut = scores_e[-1] + 1e-4 if scores_e else 0.0
        assert [h.id for h in short_e if h.score > cut] == [h.id for h in short_l if h.score > cut]


LEXICAL_QUERIES = [SparseTerms((1, 3, 8), (1.0, 1.0, 1.0)), SparseTerms((0, 11), (2.0, 0.5))]


@pytest.mark.parametrize("flt", FLTS)
def test_lexical_and_passage_search(engines: tuple[VectorStore, VectorStore], flt: Filter) -> None:
    edge, local = engines
    for terms in LEXICAL_QUERIES:
        # sparse scores tie often (few terms): compare scores, and ids above the last score
        a, b = edge.search("lexical", terms, 400, flt), local.search("lexical", terms, 400, flt)
        assert {h.id: round(h.score, 4) for h in a} == {h.id: round(h.score, 4) for h in b}
    query = unit(np.random.default_rng(5), PASSAGE_DIM)
    assert_same_hits(
        edge.search("passage", query, 20, flt), local.search("passage", query, 20, flt), 1e-5
    )


@pytest.mark.parametrize(
    ("fusion", "k", "weights"), [("rrf", 60, (1, 2, 1, 0.5)), ("dbsf", 2, (1, 1, 1, 1))]
)
def test_fused_query_over_four_signals(
    engines: tuple[VectorStore, VectorStore], fusion: str, k: int, weights: tuple[float, ...]
) -> None:
    edge, local = engines
    for q in QUERIES[:3]:
        vectors = [
            q,
            q[::-1].copy(),
            unit(np.random.default_rng(9), PASSAGE_DIM),
            LEXICAL_QUERIES[0],
        ]
        prefetches = [
            Prefetch(name, vector, 30, weight=w)
            for name, vector, w in zip(
                ("image", "text", "passage", "lexical"), vectors, weights, strict=True
            )
        ]
        a = edge.fused_query(prefetches, fusion, 200, rrf_k=k)  # type: ignore[arg-type]
        b = local.fused_query(prefetches, fusion, 200, rrf_k=k)  # type: ignore[arg-type]
        # near-ties may swap two neighbours of one list between the engines (float32 scoring):
        # the fused score multiset and the candidates agree
        assert {h.id for h in a} == {h.id for h in b}
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-4)

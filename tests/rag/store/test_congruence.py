"""Congruence: the same points in Qdrant Edge (without and with its vector copy, scanned or
scoring the engine's lists, and through a tenant's view) and in qdrant-client's local mode give
the same answers: each signal's list, the candidates' exact scores, counts and scroll pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.embedding.base import SparseTerms
from rag.retrieval import fusion
from rag.retrieval.types import FusionMode
from rag.store import Candidates, Filter, StoredPoint, VectorStore, open_store
from rag.store.base import QueryVector
from rag.tenancy import TenantStore

from .conftest import engine_settings
from .helpers import LAYOUT, PASSAGE_DIM, lists_of, random_points, unit
from .test_contract import FILTERS

N_POINTS = 300
QUERIES = [unit(np.random.default_rng(100 + i)) for i in range(6)]
FLTS: list[Filter | None] = [None, FILTERS["any-of"], FILTERS["combined"], FILTERS["datetime"]]


@pytest.fixture(scope="module", params=["edge", "edge-copy", "edge-copy-lists", "tenant"])
def engines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[VectorStore, VectorStore]]:
    """A Qdrant Edge variant and qdrant-client's local mode holding the same points."""
    folder = tmp_path_factory.mktemp("congruence")
    edge = open_store(engine_settings(request.param), Path(folder))
    local = open_store(engine_settings("local"), Path(folder))
    points = random_points(N_POINTS, seed=42)
    pair: tuple[VectorStore, VectorStore] = (edge, local)
    for store in pair:
        store.ensure_collection(LAYOUT)
    if request.param == "tenant":  # another tenant's points beside (no terms: the IDF stays)
        for store in pair:
            TenantStore(store, "t2").upsert(random_points(40, 7, signals=False, first_id=900))
        pair = (TenantStore(edge, "t1"), TenantStore(local, "t1"))
    if request.param != "edge":
        assert edge.copies_vectors(wait=10)  # type: ignore[attr-defined]
    for store in pair:
        for start in range(0, N_POINTS, 64):
            store.upsert(points[start : start + 64])
    yield pair
    edge.close()
    local.close()


def assert_same_lists(a: Candidates, b: Candidates, tol: float, exact_order: bool = True) -> None:
    """The same lists (ids and scores; with ``exact_order`` False, ids above each list's last
    score, as near-ties may swap), and the same exact scores for every candidate."""
    lists_a, lists_b = lists_of(a), lists_of(b)
    assert list(lists_a) == list(lists_b)
    for name, found in lists_a.items():
        other = lists_b[name]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in other], atol=tol)
        cut = found[-1][1] + tol if found and not exact_order else -np.inf
        assert [i for i, s in found if s > cut] == [i for i, s in other if s > cut]
    if exact_order:
        order = [b.ids.index(pid) for pid in a.ids]
        np.testing.assert_allclose(a.table(), b.table()[order], atol=tol)


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
def test_clip_lists(engines: tuple[VectorStore, VectorStore], flt: Filter) -> None:
    edge, local = engines
    for q_img, q_txt in zip(QUERIES, QUERIES[::-1], strict=True):
        queries: dict[str, QueryVector] = {"image": q_img, "text": q_txt}
        assert_same_lists(
            edge.candidates(queries, 20, flt), local.candidates(queries, 20, flt), 1e-5
        )


LEXICAL_QUERIES = [SparseTerms((1, 3, 8), (1.0, 1.0, 1.0)), SparseTerms((0, 11), (2.0, 0.5))]


@pytest.mark.parametrize("flt", FLTS)
def test_lexical_and_passage_lists(engines: tuple[VectorStore, VectorStore], flt: Filter) -> None:
    edge, local = engines
    for terms in LEXICAL_QUERIES:
        # sparse scores tie often (few terms): compare scores, and ids above the last score
        a, b = (
            edge.candidates({"lexical": terms}, 400, flt),
            local.candidates({"lexical": terms}, 400, flt),
        )
        assert {i: round(s, 4) for i, s in lists_of(a)["lexical"]} == {
            i: round(s, 4) for i, s in lists_of(b)["lexical"]
        }
    query = unit(np.random.default_rng(5), PASSAGE_DIM)
    assert_same_lists(
        edge.candidates({"passage": query}, 20, flt),
        local.candidates({"passage": query}, 20, flt),
        1e-5,
    )


@pytest.mark.parametrize("flt", [None, FILTERS["any-of"]])
def test_four_signals(engines: tuple[VectorStore, VectorStore], flt: Filter | None) -> None:
    edge, local = engines
    for q in QUERIES[:3]:
        queries: dict[str, QueryVector] = {
            "image": q,
            "text": q[::-1].copy(),
            "passage": unit(np.random.default_rng(9), PASSAGE_DIM),
            "lexical": LEXICAL_QUERIES[0],
        }
        a, b = edge.candidates(queries, 30, flt), local.candidates(queries, 30, flt)
        # near-ties may swap two neighbours of one list between the engines (float32 scoring)
        assert_same_lists(a, b, 1e-4, exact_order=False)
        assert set(a.ids) == set(b.ids)
        order = [b.ids.index(pid) for pid in a.ids]
        np.testing.assert_allclose(a.table(), b.table()[order], atol=1e-4)


def test_payloads_read_back_alike(engines: tuple[VectorStore, VectorStore]) -> None:
    found = engines[0].candidates({"image": QUERIES[0]}, 20)
    got: list[list[StoredPoint]] = [store.get(found.ids) for store in engines]
    assert [(p.id, p.payload) for p in got[0]] == [(p.id, p.payload) for p in got[1]]


@pytest.mark.parametrize("mode", ["rrf", "dbsf"])
@pytest.mark.parametrize("flt", [None, FILTERS["any-of"]])
def test_fused_rankings(
    engines: tuple[VectorStore, VectorStore], mode: FusionMode, flt: Filter | None
) -> None:
    """rrf and dbsf rank alike whether the engine fuses (Qdrant Edge's shortcut,
    ``Candidates.fused``) or ``fusion.fuse`` fuses the lists; a list read after the engine
    fused keeps the fused rows' numbers and scores."""
    weights = {"image": 0.5, "text": 0.5, "passage": 1.0, "lexical": 2.0}
    tol = 1e-3 if mode == "rrf" else 1e-4  # rrf: lexical ties may take neighbouring ranks
    for q in QUERIES[:3]:
        queries: dict[str, QueryVector] = {
            "image": q,
            "text": q[::-1].copy(),
            "passage": unit(np.random.default_rng(9), PASSAGE_DIM),
            "lexical": LEXICAL_QUERIES[0],
        }
        found = [store.candidates(queries, 30, flt) for store in engines]
        best = [fusion.fuse(f, mode, weights, 10, 60) for f in found]
        scores = [[score for _, score in b] for b in best]
        np.testing.assert_allclose(scores[0], scores[1], atol=tol)
        cut = scores[0][-1] + tol
        above = [
            {f.ids[row] for row, score in b if score > cut}
            for f, b in zip(found, best, strict=True)
        ]
        assert above[0] == above[1]
        rows = np.array([row for row, _ in best[0]])
        table = found[0].table(rows).copy()
        fused_ids = [found[0].ids[row] for row in rows.tolist()]
        found[0].ranked("image")  # reads the lists if the engine fused
        assert [found[0].ids[row] for row in rows.tolist()] == fused_ids
        np.testing.assert_array_equal(found[0].table(rows), table)

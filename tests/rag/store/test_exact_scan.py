"""The embedded store's exact scan of its vector copy (``MMRAG_STORE__EXACT_SCAN_MAX_POINTS``):
unfiltered dense searches of a small collection give the engine's lists and fused scores."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from rag.config import StoreSettings
from rag.embedding.base import SparseTerms
from rag.errors import InvalidInputError
from rag.store import Filter, MatchValue, PointRecord, Prefetch, open_store
from rag.store.edge import EdgeStore
from rag.store.vector_copy import Scan, VectorCopy

from .helpers import LAYOUT, PASSAGE_DIM, make_id, random_points, unit


def scanning_store(tmp_path: Path, points: int = 60) -> EdgeStore:
    """An Edge store scanning its copy up to 1000 points, holding ``points`` random points (no
    HNSW graph that small: the engine's searches are exact too)."""
    store = EdgeStore(
        tmp_path / "shard", "scan", vector_copy_max_points=1000, exact_scan_max_points=1000
    )
    store.ensure_collection(LAYOUT)
    store.upsert(random_points(points))
    assert store.copies_vectors(wait=10)
    assert store._scanned_copy(None, ["image", "text", "passage"]) is not None  # scans now
    return store


def scanned_and_engine(store: EdgeStore, call):  # type: ignore[no-untyped-def]
    """``call(store)`` with the exact scan, then with the engine's search."""
    kept = store.exact_scan_max_points
    scanned = call(store)
    store.exact_scan_max_points = 0
    engine = call(store)
    store.exact_scan_max_points = kept
    return scanned, engine


def assert_same_hits(got: list, expected: list) -> None:
    """The same scores in order, and the same points with their payloads, except that points
    tied at the cut may differ (either may keep any of them)."""
    assert [p.score for p in got] == pytest.approx([p.score for p in expected], abs=1e-5)
    cut = expected[-1].score if expected else 0.0
    above = [p for p in expected if p.score > cut + 1e-5]
    assert {p.id: p.payload for p in got[: len(above)]} == {p.id: p.payload for p in above}


def queries(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"image": unit(rng), "text": unit(rng), "passage": unit(rng, PASSAGE_DIM)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fused_queries_from_the_scan_equal_the_engines(tmp_path: Path, seed: int) -> None:
    store = scanning_store(tmp_path)
    q = queries(seed)
    weighted = [Prefetch("image", q["image"], 20, 2.0), Prefetch("text", q["text"], 20, 0.5)]
    plain = [Prefetch(name, vector, 20) for name, vector in q.items()]
    for prefetches, fusion in ((weighted, "rrf"), (plain, "rrf"), (plain, "dbsf")):
        got, expected = scanned_and_engine(
            store, lambda s, p=prefetches, f=fusion: s.fused_query(p, f, 15, rrf_k=10)
        )
        assert len(got) == 15
        assert_same_hits(got, expected)
    store.close()


def test_search_each_from_the_scan_equals_the_engines(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    got, expected = scanned_and_engine(store, lambda s: s.search_each(queries(4), 25))
    assert got.keys() == expected.keys()
    for name in expected:
        assert len(got[name]) == min(25, len(expected[name]))
        assert_same_hits(got[name], expected[name])
    store.close()


def test_vectors_come_with_fused_hits_when_asked(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    prefetches = [Prefetch("image", queries(5)["image"], 10)]
    got, expected = scanned_and_engine(
        store, lambda s: s.fused_query(prefetches, "rrf", 5, with_vectors=True)
    )
    assert_same_hits(got, expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.vectors.keys() == theirs.vectors.keys()
        np.testing.assert_allclose(mine.vectors["image"], theirs.vectors["image"], atol=1e-6)
    store.close()


def test_the_scan_follows_writes_and_deletes(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    q = queries(6)
    first = store.search_each({"image": q["image"]}, 3)["image"]
    store.delete([first[0].id])
    store.upsert([PointRecord(make_id(500), {"image": q["image"]}, {})])
    after = store.search_each({"image": q["image"]}, 3)["image"]
    assert after[0].id == make_id(500) and after[0].score == pytest.approx(1.0)
    assert first[0].id not in {p.id for p in after}
    store.close()


def test_filters_and_sparse_signals_are_left_to_the_engine(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    q = queries(7)
    flt = Filter(must=(MatchValue("source", "b.jpg"),))
    hits = store.fused_query([Prefetch("text", q["text"], 10)], "rrf", 10, flt)
    assert hits and all(p.payload["source"] == "b.jpg" for p in hits)
    lexical = {"image": q["image"], "lexical": SparseTerms((1, 2), (1.0, 1.0))}
    assert store._scanned_copy(flt, ["text"]) is None
    assert store._scanned_copy(None, list(lexical)) is None
    got, expected = scanned_and_engine(store, lambda s: s.search_each(lexical, 10))
    assert got == expected
    store.close()


def test_the_scan_rejects_a_bad_rrf_k_and_a_wrong_size_query(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    q = queries(8)
    with pytest.raises(InvalidInputError, match="rrf k"):
        store.fused_query([Prefetch("image", q["image"], 10)], "rrf", 5, rrf_k=0)
    with pytest.raises(InvalidInputError):
        store.fused_query([Prefetch("image", q["passage"], 10)], "rrf", 5)  # wrong size
    store.close()


def test_a_scan_rejects_nan_and_scores_a_huge_query_as_its_unit_vector(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    x = queries(9)["image"]
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        store.scanned({"image": np.where(np.arange(len(x)) == 3, np.nan, x)})
    huge = store.scanned({"image": x * np.float32(1e20)})  # its squared length overflows float32
    plain = store.scanned({"image": x})
    assert huge is not None and plain is not None
    rows = np.arange(len(plain))
    assert np.allclose(huge.table(rows), plain.table(rows), atol=1e-6, equal_nan=True)
    store.close()


def test_the_scans_top_holds_only_rows_with_the_vector() -> None:
    copy = VectorCopy({"image": 4, "text": 4}, capacity=1)
    x, y = np.eye(4, dtype=np.float32)[:2]
    copy.write(
        [
            (make_id(1), {"image": x}),
            (make_id(2), {"image": 0.6 * x + 0.8 * y, "text": x}),
            (make_id(3), {"text": y}),
        ]
    )
    copy.remove([make_id(1)])
    copy.write([(make_id(4), {"image": y})])  # takes the freed row
    scan = copy.scan([("image", x), ("text", x)])
    rows, scores = scan.top(0, 5)
    assert scan.ids(rows) == [make_id(2), make_id(4)]
    assert scores.tolist() == pytest.approx([0.6, 0.0], abs=1e-6)
    assert scan.ids(scan.top(1, 1)[0]) == [make_id(2)]


def test_the_setting_reaches_the_embedded_store(tmp_path: Path) -> None:
    store = open_store(StoreSettings(collection="scan", exact_scan_max_points=123), tmp_path)
    assert isinstance(store, EdgeStore) and store.exact_scan_max_points == 123
    store.close()


def test_a_scan_keeps_the_scores_of_the_moment_it_was_taken() -> None:
    copy = VectorCopy({"image": 4, "text": 4})
    x, y = np.eye(4, dtype=np.float32)[:2]
    copy.write([(make_id(1), {"image": x, "text": y}), (make_id(2), {"image": y})])
    scan = copy.scan([("image", x), ("text", x)])
    copy.write([(make_id(1), {"image": y, "text": x})])  # after the scan
    copy.remove([make_id(2)])
    copy.write([(make_id(3), {"text": x})])  # takes the freed row
    rows, scores = scan.top(0, 5)
    assert len(scan) == 2 and scan.ids(rows) == [make_id(1), make_id(2)]
    assert scores.tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    table = scan.table(rows)
    assert table[0].tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    assert table[1, 0] == pytest.approx(0.0) and np.isnan(table[1, 1])  # no text vector
    assert copy.scan([("text", x)]).ids(np.array([1])) == [make_id(3)]  # a new scan sees it


def test_a_scans_table_follows_the_columns_asked() -> None:
    copy = VectorCopy({"image": 4, "text": 4})
    x, y = np.eye(4, dtype=np.float32)[:2]
    copy.write([(make_id(1), {"image": x, "text": y})])
    scan = copy.scan([("image", x), ("text", y)])
    table = scan.table(np.array([0]), ["text", "passage", "image"])
    assert table[0, [0, 2]].tolist() == pytest.approx([1.0, 1.0]) and np.isnan(table[0, 1])


def assert_scored_as_score_points_scores(store: EdgeStore, scan: Scan, q: dict) -> None:
    """Each row of ``scan`` holds ``score_points``' score of its point for every query, and NaN
    where ``score_points`` finds no such vector."""
    rows = np.arange(len(scan))
    ids = scan.ids(rows)
    expected = store.score_points(ids, q)
    for pid, scores in zip(ids, scan.table(rows).tolist(), strict=True):
        for name, score in zip(scan.names, scores, strict=True):
            if np.isnan(score):
                assert pid not in expected[name]
            else:
                assert score == pytest.approx(expected[name][pid], abs=1e-6)


def test_scanned_scores_every_point_as_score_points_does(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    q = queries(11)
    scan = store.scanned(q)
    assert scan is not None and scan.names == list(q)
    assert_scored_as_score_points_scores(store, scan, q)
    assert len(scan) == 60
    store.close()


def test_scanned_declines_filters_sparse_queries_and_big_collections(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    q = queries(12)
    assert store.scanned(q, Filter(must=(MatchValue("source", "b.jpg"),))) is None
    assert store.scanned({"lexical": SparseTerms((1,), (1.0,))}) is None
    store.exact_scan_max_points = 59  # the collection holds 60
    assert store.scanned(q) is None
    store.close()


def test_best_orders_ties_by_id_and_keeps_only_the_limit() -> None:
    copy = VectorCopy({"image": 4})
    x = np.eye(4, dtype=np.float32)[0]
    copy.write([(make_id(i), {"image": x}) for i in (3, 1, 2)])
    scan = copy.scan([("image", x)])
    rows = np.arange(3)
    best = scan.best(rows, np.array([0.5, 0.9, 0.5]), 2)
    assert [(pid, value) for pid, value, _ in best] == [(make_id(1), 0.9), (make_id(2), 0.5)]
    assert [row for _, _, row in best] == [1, 2]


def test_fused_rejects_an_unknown_fusion() -> None:
    copy = VectorCopy({"image": 2})
    copy.write([("a", {"image": [1.0, 0.0]})])
    with pytest.raises(ValueError, match="rrf' or 'dbsf"):
        copy.scan([("image", np.array([1.0, 0.0]))]).fused([1], "max", 1)


def test_searched_holds_search_each_lists_scored_for_every_query(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    store.exact_scan_max_points = 0  # the engine searches: the copy scores what it found
    q = queries(13)
    flt = Filter(must=(MatchValue("source", "b.jpg"),))
    for where in (None, flt):
        scan = store.searched(q, 7, where)
        assert scan is not None and scan.names == list(q)
        lists = store.search_each(q, 7, where)
        for index, name in enumerate(q):
            rows, scores = scan.top(index, 7)
            assert scan.ids(rows) == [p.id for p in lists[name]]
            assert scores.tolist() == pytest.approx([p.score for p in lists[name]], abs=1e-6)
        rows = np.arange(len(scan))
        ids = scan.ids(rows)
        assert len(set(ids)) == len(ids) == len({p.id for found in lists.values() for p in found})
        assert_scored_as_score_points_scores(store, scan, q)
    store.close()


def test_searched_declines_sparse_queries_and_stores_without_a_copy(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    assert store.searched({"lexical": SparseTerms((1,), (1.0,))}, 5) is None
    store.vector_copy_max_points = 0
    assert store.searched(queries(14), 5) is None
    store.close()


def test_a_scan_of_search_results_leaves_out_points_deleted_since() -> None:
    copy = VectorCopy({"image": 4, "text": 4})
    x, y = np.eye(4, dtype=np.float32)[:2]
    copy.write([(make_id(i), {"image": x, "text": y}) for i in (1, 2, 3)])
    copy.write([(make_id(4), {"image": y})])
    found = [[uuid.UUID(make_id(i)) for i in (2, 1, 9)], [uuid.UUID(make_id(4))]]
    copy.remove([make_id(1)])
    scan = copy.scan_of([("image", x), ("text", y)], found)
    assert len(scan) == 2 and scan.ids(scan.top(0, 5)[0]) == [make_id(2)]
    assert scan.ids(scan.top(1, 5)[0]) == []  # 4 has no text vector
    table = scan.table(np.arange(2))
    assert scan.ids(np.arange(2)) == [make_id(2), make_id(4)]
    assert table[0].tolist() == pytest.approx([1.0, 1.0]) and np.isnan(table[1, 1])
    assert scan.candidates(1).tolist() == [0, 1]  # each list holds one: every row


def test_candidates_are_the_rows_among_any_querys_nearest() -> None:
    copy = VectorCopy({"image": 4, "text": 4})
    x, y = np.eye(4, dtype=np.float32)[:2]
    copy.write([(make_id(i), {"image": x * i + y, "text": y * i + x}) for i in range(1, 6)])
    scan = copy.scan([("image", x), ("text", x)])
    assert set(scan.ids(scan.candidates(1))) == {make_id(5), make_id(1)}
    searched = copy.scan_of(
        [("image", x), ("text", x)], [[uuid.UUID(make_id(i)) for i in (5, 4)], []]
    )
    assert searched.ids(searched.candidates(1)) == [make_id(5)]  # the list holds 2: its best
    assert searched.ids(searched.candidates(2)) == [make_id(4), make_id(5)]

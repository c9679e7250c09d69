"""The embedded store's numpy copy of a small collection's dense vectors
(``MMRAG_STORE__VECTOR_COPY_MAX_POINTS``): it scores chosen points as the engine does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.embedding.base import SparseTerms
from rag.store import Filter, MatchValue, PointRecord
from rag.store.edge import EdgeStore
from rag.store.edge_copy import VectorCopy

from .helpers import LAYOUT, PASSAGE_DIM, make_id, random_points, unit


def copying_store(tmp_path: Path, max_points: int = 100) -> EdgeStore:
    """An Edge store at ``tmp_path`` keeping a copy up to ``max_points`` (the collection made)."""
    store = EdgeStore(tmp_path / "shard", "copy", vector_copy_max_points=max_points)
    store.ensure_collection(LAYOUT)
    return store


def both_ways(store: EdgeStore, ids: list[str], queries: dict) -> tuple[dict, dict]:
    """The candidates' exact scores (``_scores_of``) from the copy, then from the engine."""
    limit = store.vector_copy_max_points
    from_copy = store._scores_of(ids, queries)
    store.vector_copy_max_points = 0
    from_engine = store._scores_of(ids, queries)
    store.vector_copy_max_points = limit
    return from_copy, from_engine


def assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-5)


def test_the_copy_scores_as_the_engine_through_writes(tmp_path: Path) -> None:
    store = copying_store(tmp_path, 20)
    points = random_points(30)
    store.upsert(points[:20])
    rng = np.random.default_rng(3)
    queries = {"image": unit(rng), "text": unit(rng), "passage": unit(rng, PASSAGE_DIM)}
    queries["lexical"] = SparseTerms((1, 2, 3), (1.0, 1.0, 1.0))
    ids = [p.id for p in points] + [make_id(999)]
    assert store.copies_vectors(wait=10)
    assert_same(*both_ways(store, ids, queries))
    first = points[0].id
    store.upsert([PointRecord(first, {"text": queries["text"]})])  # loses its image vector
    got, expected = both_ways(store, ids, queries)
    assert first not in got["image"] and got["text"][first] == pytest.approx(1.0)
    assert_same(got, expected)
    store.delete([points[1].id])
    assert_same(*both_ways(store, ids, queries))
    store.delete_by_filter(Filter(must=(MatchValue("source", "a.jpg"),)))
    assert_same(*both_ways(store, ids, queries))
    store.upsert(points[20:])
    assert not store.copies_vectors(wait=10)  # 25 points > 20: the engine scores from now on
    store.delete([p.id for p in points[20:]])
    assert store.copies_vectors(wait=10)  # small again: the copy is rebuilt from the shard
    assert_same(*both_ways(store, ids, queries))
    store.close()


def test_a_reopened_store_copies_what_is_on_disk(tmp_path: Path) -> None:
    store = copying_store(tmp_path)
    points = random_points(15)
    store.upsert(points)
    query = {"text": unit(np.random.default_rng(5))}
    before = store._scores_of([p.id for p in points], query)
    store.close()
    again = EdgeStore(tmp_path / "shard", "copy", vector_copy_max_points=100)
    assert again.copies_vectors(wait=10)
    assert_same(again._scores_of([p.id for p in points], query), before)
    again.close()


def test_copy_scores_only_points_it_holds_with_the_vector() -> None:
    copy = VectorCopy({"image": 4}, capacity=1)
    vector = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    ids = [make_id(n) for n in (1, 2, 3)]
    copy.write((pid, {"image": vector}) for pid in ids)
    copy.remove([ids[0], make_id(99)])
    assert len(copy) == 2
    copy.write([(make_id(7), {"image": 2 * vector}), (make_id(8), {})])
    scores = copy.scores_of({"image": vector}, [ids[0], ids[1], make_id(7), make_id(8)])["image"]
    assert scores == pytest.approx({ids[1]: 1.0, make_id(7): 1.0})


def test_writes_around_the_background_fill_are_kept(tmp_path: Path) -> None:
    store = copying_store(tmp_path, 10_000)
    points = random_points(3000, signals=False)
    store.upsert(points)
    assert not store.copies_vectors()  # the first call starts the fill in the background
    rng = np.random.default_rng(6)
    replaced = [PointRecord(p.id, {"image": unit(rng)}) for p in points[-200:]]
    store.upsert(replaced)  # likely before the fill reads them
    store.delete([p.id for p in points[:100]])
    assert store.copies_vectors(wait=60)
    ids = [p.id for p in points]
    got, expected = both_ways(store, ids, {"image": unit(rng), "text": unit(rng)})
    assert_same(got, expected)
    assert not set(got["image"]) & {p.id for p in points[:100]}
    store.close()


def test_a_fill_page_read_before_a_write_does_not_undo_it() -> None:
    copy = VectorCopy({"image": 4}, ("lexical",))
    old = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    new = np.array([0.0, 1.0, 0.0, 0.0], np.float32)
    written, removed, untouched = make_id(1), make_id(2), make_id(3)
    copy.write([(written, {"image": new})])  # upserted after the fill read its page
    copy.remove([removed])  # deleted after the fill read its page
    page = [
        (pid, {"image": old, "lexical": SparseTerms((1,), (1.0,))})
        for pid in (written, removed, untouched)
    ]
    copy.backfill(page)
    copy.mark_filled()
    assert copy.wait_filled()
    scores = copy.scores_of({"image": new}, [written, removed, untouched])["image"]
    assert scores == pytest.approx({written: 1.0, untouched: 0.0})
    assert copy.having("lexical", [written, removed, untouched]) == [untouched]


def test_get_gives_the_named_vectors_from_the_copy_as_the_engine_stores_them(
    tmp_path: Path,
) -> None:
    store = copying_store(tmp_path)
    points = [
        PointRecord(
            p.id, {n: 3.0 * v if n != "lexical" else v for n, v in p.vectors.items()}, p.payload
        )
        for p in random_points(12)
    ]  # longer than 1: the engine keeps a cosine vector at length 1, and so does the copy
    store.upsert(points)
    ids = [p.id for p in points] + [make_id(999)]
    names = ["image", "passage"]
    assert store.copies_vectors(wait=10)
    from_copy = store.get(ids, with_vectors=names)
    store.vector_copy_max_points = 0
    from_engine = store.get(ids, with_vectors=names)
    assert [p.id for p in from_copy] == [p.id for p in from_engine] == ids[:-1]
    for got, expected in zip(from_copy, from_engine, strict=True):
        assert got.payload == expected.payload
        assert got.vectors.keys() == expected.vectors.keys()  # an image-only point has no passage
        for name, vector in expected.vectors.items():
            assert got.vectors[name].dtype == np.float32
            np.testing.assert_allclose(got.vectors[name], vector, atol=1e-6)
    store.close()


def test_writes_that_grow_the_copy_past_its_size_while_it_fills_drop_it(tmp_path: Path) -> None:
    store = copying_store(tmp_path, 20)
    points = random_points(30)
    store.upsert(points[:15])
    scroll, wrote = store.scroll, []

    def scroll_then_write(*args, **kwargs):  # a write lands after the filler read its page
        page = scroll(*args, **kwargs)
        if not wrote:
            wrote.append(True)
            store.upsert(points[15:])
        return page

    store.scroll = scroll_then_write  # type: ignore[method-assign]
    assert not store.copies_vectors(wait=10)  # 30 points > 20: the engine scores
    assert wrote and store.count() == 30
    store.close()

"""The store contract: every engine (``store_settings``: Qdrant Edge, qdrant-client local mode)
behaves the same way on every method of :class:`rag.store.VectorStore`, over dense vectors of two
sizes (CLIP image/text, passage) and the sparse ``lexical`` vector with the IDF modifier."""

from __future__ import annotations

import datetime as dt
import math
import pickle
import threading

import numpy as np
import pytest

from rag.embedding.base import SparseTerms
from rag.errors import CollectionMismatchError, InvalidInputError, NotFoundError
from rag.retrieval import fusion as fuse
from rag.retrieval.fusion import QDRANT_RRF_K
from rag.store import (
    CollectionLayout,
    DatetimeRange,
    Filter,
    HasId,
    MatchAny,
    MatchValue,
    PointRecord,
    Range,
    VectorStore,
)

from .helpers import (
    CLIP_ONLY,
    DIM,
    LAYOUT,
    PASSAGE_DIM,
    lists_of,
    make_id,
    matches,
    random_points,
    search,
    unit,
)

FILTERS = {
    "match": Filter(must=(MatchValue("source", "a.jpg"),)),
    "match-bool": Filter(must=(MatchValue("has_image", False),)),
    "match-int": Filter(must=(MatchValue("n", 7),)),
    "match-in-list": Filter(must=(MatchValue("tags", "t1"),)),
    "any-of": Filter(must=(MatchAny("source", ("b.jpg", "d.png")),)),
    "range": Filter(must=(Range("n", gte=10, lt=20),)),
    "range-float": Filter(must=(Range("score", gt=0.25, lte=0.75),)),
    "datetime": Filter(must=(DatetimeRange("ingested_at", gte="2024-01-10T00:00:00Z"),)),
    "datetime-offset": Filter(must=(DatetimeRange("ingested_at", lt="2024-01-05T03:00:00+01:00"),)),
    "must-not": Filter(must_not=(MatchValue("source", "a.jpg"),)),
    "should": Filter(should=(MatchValue("source", "a.jpg"), Range("n", gte=35))),
    "has-id": Filter(must=(HasId((make_id(1), make_id(5), make_id(999))),)),
    "combined": Filter(
        must=(MatchAny("source", ("a.jpg", "b.jpg")),),
        must_not=(HasId((make_id(1),)),),
        should=(MatchValue("tags", "u0"), Range("score", lt=0.5)),
    ),
}


def ids_of(points: list) -> list[str]:
    return [p.id for p in points]


def test_collection_lifecycle(empty_store: VectorStore) -> None:
    assert empty_store.collection == "contract"
    assert empty_store.collection_dim() is None
    with pytest.raises(NotFoundError, match="ensure_collection"):
        empty_store.count()
    empty_store.ensure_collection(LAYOUT)
    empty_store.ensure_collection(LAYOUT)  # idempotent
    assert empty_store.collection_dim() == DIM
    assert empty_store.collection_layout() == LAYOUT
    empty_store.ensure_collection(CLIP_ONLY)  # a narrower layout keeps the other vectors
    assert empty_store.collection_layout() == LAYOUT


def test_ensure_collection_takes_a_layout_not_a_size(empty_store: VectorStore) -> None:
    with pytest.raises(TypeError, match="CollectionLayout"):
        empty_store.ensure_collection(DIM)  # type: ignore[arg-type]


def test_mismatched_dim_raises_naming_both(store: VectorStore) -> None:
    with pytest.raises(CollectionMismatchError) as caught:
        store.ensure_collection(CollectionLayout.of(DIM * 4))
    message = str(caught.value)
    assert "'contract'" in message and f"size {DIM} " in message
    assert f"{DIM * 4} (Cosine)" in message
    assert "MMRAG_STORE__COLLECTION" in message


def test_empty_collection(store: VectorStore) -> None:
    query = unit(np.random.default_rng(0))
    assert store.count() == 0
    assert store.scroll() == ([], None)
    assert store.get([make_id(1)]) == []
    found = store.candidates({"image": query, "text": query}, 5)
    assert (found.ids, found.names, found.table().shape) == ([], ("image", "text"), (0, 2))
    store.delete([make_id(1)])
    store.delete_by_filter(FILTERS["match"])
    store.flush()


def test_upsert_get_in_order_with_vectors(store: VectorStore) -> None:
    points = random_points(6)
    store.upsert(points)
    wanted = [points[4].id, make_id(999), points[0].id, points[1].id]
    got = store.get(wanted, with_vectors=True)
    assert ids_of(got) == [points[4].id, points[0].id, points[1].id]
    assert got[1].payload == points[0].payload
    for stored, original in zip(got, (points[4], points[0], points[1]), strict=True):
        assert_same_vectors(stored.vectors, original.vectors)
    assert {"passage", "lexical"} <= set(got[1].vectors)
    assert store.get([points[0].id])[0].vectors == {}


def assert_same_vectors(stored: dict, original: dict) -> None:
    """Dense vectors come back as float32 arrays of their size, sparse ones as SparseTerms."""
    assert set(stored) == set(original)
    for name, vector in stored.items():
        if name == "lexical":
            assert isinstance(vector, SparseTerms)
            assert vector.indices == original[name].indices
            np.testing.assert_allclose(vector.values, original[name].values, rtol=1e-6)
        else:
            size = PASSAGE_DIM if name == "passage" else DIM
            assert vector.dtype == np.float32 and vector.shape == (size,)
            np.testing.assert_allclose(vector, original[name], atol=1e-6)


def test_ids_are_canonical_uuid_strings(store: VectorStore) -> None:
    point = random_points(1)[0]
    store.upsert([PointRecord(point.id.upper(), point.vectors, point.payload)])
    assert ids_of(store.get([point.id])) == [point.id]
    assert ids_of(store.scroll()[0]) == [point.id]


def test_upsert_is_idempotent_and_replaces(store: VectorStore) -> None:
    point = random_points(1)[0]
    store.upsert([point])
    store.upsert([PointRecord(point.id, {"text": point.vectors["text"]}, {"v": 2})])
    assert store.count() == 1
    (stored,) = store.get([point.id], with_vectors=True)
    assert stored.payload == {"v": 2}
    assert set(stored.vectors) == {"text"}


def test_payload_json_round_trip(store: VectorStore) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    payload = {
        "nested": {"a": {"b": [1, 2.5, None, True, "x"]}, "empty": {}},
        "null": None,
        "flag": False,
        "float": 2.0,
        "precise": 0.1 + 0.2,
        "tiny": 1.2345678901234567e-7,
        "big": 2**53,
        "when": when,
        "tuple": (1, 2),
        "numpy": np.float32(0.5),
        "unicode": "café 🖼",
        "empty_list": [],
    }
    point = random_points(1)[0]
    store.upsert([PointRecord(point.id, point.vectors, payload)])
    (stored,) = store.get([point.id])
    expected = {
        **payload,
        "when": when.isoformat(),
        "tuple": [1, 2],
        "numpy": 0.5,
        "precise": 0.3,  # floats keep 15 significant digits
        "tiny": 1.23456789012346e-7,
    }
    assert stored.payload == expected
    assert isinstance(stored.payload["float"], float)


@pytest.mark.parametrize(
    ("point", "error"),
    [
        (PointRecord("not-a-uuid", {"text": np.ones(DIM)}), "not a UUID"),
        (PointRecord(make_id(1), {}), "no vector"),
        (PointRecord(make_id(1), {"audio": np.ones(DIM)}), "no vector 'audio'"),
        (PointRecord(make_id(1), {"text": np.ones(DIM + 1)}), "size"),
        (PointRecord(make_id(1), {"passage": np.ones(DIM)}), "needs 6"),
        (PointRecord(make_id(1), {"text": np.full(DIM, np.nan)}), "NaN"),
        (PointRecord(make_id(1), {"lexical": np.ones(DIM)}), "SparseTerms"),
        (PointRecord(make_id(1), {"text": SparseTerms((1,), (1.0,))}), "sparse"),
        (PointRecord(make_id(1), {"lexical": SparseTerms((1, 1), (1.0, 2.0))}), "repeats"),
        (PointRecord(make_id(1), {"lexical": SparseTerms((1, 2), (1.0,))}), "2 term ids"),
        (PointRecord(make_id(1), {"lexical": SparseTerms((-1,), (1.0,))}), "term id outside"),
        (PointRecord(make_id(1), {"lexical": SparseTerms((3,), (math.inf,))}), "NaN or inf"),
        (PointRecord(make_id(1), {"lexical": SparseTerms((), ())}), "no vector"),
        (PointRecord(make_id(1), {"text": np.ones(DIM)}, {"x": float("nan")}), "NaN"),
        (PointRecord(make_id(1), {"text": np.ones(DIM)}, {"x": object()}), "not JSON"),
    ],
)
def test_invalid_points_are_rejected_whole(
    store: VectorStore, point: PointRecord, error: str
) -> None:
    good = random_points(1, seed=3)[0]
    with pytest.raises(InvalidInputError, match=error):
        store.upsert([good, point])
    assert store.count() == 0


def test_invalid_queries(store: VectorStore) -> None:
    with pytest.raises(InvalidInputError, match="size"):
        store.candidates({"image": np.ones(DIM + 1)}, 3)
    with pytest.raises(InvalidInputError, match="needs 6"):
        store.candidates({"passage": np.ones(DIM)}, 3)
    with pytest.raises(InvalidInputError, match="no vector 'audio'"):
        store.candidates({"audio": np.ones(DIM)}, 3)
    with pytest.raises(InvalidInputError, match="SparseTerms"):
        store.candidates({"lexical": np.ones(DIM)}, 3)
    with pytest.raises(InvalidInputError, match="limit"):
        store.candidates({"image": np.ones(DIM)}, 0)


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_match_reference(store: VectorStore, name: str) -> None:
    points = random_points(40)
    store.upsert(points)
    flt = FILTERS[name]
    expected = sorted(p.id for p in points if matches(p, flt))
    assert expected, "each filter should select something"
    assert store.count(flt) == len(expected)
    assert sorted(ids_of(store.scroll(flt, limit=100)[0])) == expected
    hits = search(store, "text", unit(np.random.default_rng(1)), 100, flt)
    assert {i for i, _ in hits} == {p.id for p in points if matches(p, flt) and "text" in p.vectors}


def test_delete_and_delete_by_filter(store: VectorStore) -> None:
    points = random_points(20)
    store.upsert(points)
    store.delete([points[0].id, points[1].id, make_id(999)])
    assert store.count() == 18
    assert store.get([points[0].id]) == []
    store.delete_by_filter(FILTERS["match"])
    remaining = [p for p in points[2:] if not matches(p, FILTERS["match"])]
    assert sorted(ids_of(store.scroll(limit=100)[0])) == sorted(p.id for p in remaining)


def test_empty_filter_matches_everything(store: VectorStore) -> None:
    store.upsert(random_points(5))
    assert store.count(Filter()) == 5
    store.delete_by_filter(Filter())
    assert store.count() == 0


def test_scroll_pages_by_id(store: VectorStore) -> None:
    points = random_points(25)
    store.upsert(points)
    seen: list[str] = []
    offset: str | None = None
    pages = 0
    while True:
        page, offset = store.scroll(limit=7, offset=offset, with_vectors=pages == 0)
        seen += ids_of(page)
        pages += 1
        if pages == 1:
            assert all(p.vectors for p in page)
        if offset is None:
            break
    assert pages == 4
    assert seen == sorted(p.id for p in points)
    flt = FILTERS["any-of"]
    page, _ = store.scroll(flt, limit=3)
    assert ids_of(page) == sorted(p.id for p in points if matches(p, flt))[:3]


def test_lists_best_first_by_cosine(store: VectorStore) -> None:
    points = random_points(30)
    store.upsert(points)
    query = unit(np.random.default_rng(7))
    hits = search(store, "image", query, 5)
    with_image = [p for p in points if "image" in p.vectors]
    cosines = {p.id: float(p.vectors["image"] @ query) for p in with_image}
    expected = sorted(cosines, key=lambda i: -cosines[i])[:5]
    assert [i for i, _ in hits] == expected
    for point_id, score in hits:
        assert score == pytest.approx(cosines[point_id], abs=1e-5)


def test_one_vector_points(store: VectorStore) -> None:
    rng = np.random.default_rng(11)
    query = unit(rng)
    image_only = PointRecord(make_id(1), {"image": query}, {"kind": "image-only"})
    text_only = PointRecord(make_id(2), {"text": query}, {"kind": "text-only"})
    both = PointRecord(make_id(3), {"image": unit(rng), "text": unit(rng)}, {"kind": "both"})
    store.upsert([image_only, text_only, both])
    found = store.candidates({"image": query, "text": query}, 10)
    lists = lists_of(found)
    assert [i for i, _ in lists["image"]] == [image_only.id, both.id]
    assert [i for i, _ in lists["text"]] == [text_only.id, both.id]
    table = found.table()
    row = found.ids.index(image_only.id)
    assert table[row, 0] == pytest.approx(1.0, abs=1e-5) and math.isnan(table[row, 1])
    fused = fuse.fuse(found, "rrf", {"image": 1, "text": 1}, 10, QDRANT_RRF_K)
    scores = {found.ids[r]: s for r, s in fused}
    # image-only and text-only are each first of one list: 1/(2+0) ; both is second of each.
    assert scores[image_only.id] == pytest.approx(0.5)
    assert scores[text_only.id] == pytest.approx(0.5)
    assert scores[both.id] == pytest.approx(2 / 3)


def test_each_list_is_its_own_search(store: VectorStore) -> None:
    points = random_points(30)
    store.upsert(points)
    rng = np.random.default_rng(14)
    queries = {
        "image": unit(rng),
        "text": unit(rng),
        "passage": unit(rng, PASSAGE_DIM),
        "lexical": SparseTerms((2, 5), (1.0, 1.0)),
    }
    flt = FILTERS["any-of"]
    found = store.candidates(queries, 6, flt)
    assert found.names == tuple(queries)
    for name, got in lists_of(found).items():
        alone = search(store, name, queries[name], 6, flt)
        assert [(i, round(s, 5)) for i, s in got] == [(i, round(s, 5)) for i, s in alone]
        assert all(matches(by_id(points)[i], flt) for i, _ in got)
    assert lists_of(store.candidates({"lexical": SparseTerms((), ())}, 3)) == {"lexical": []}


def by_id(points: list[PointRecord]) -> dict[str, PointRecord]:
    return {p.id: p for p in points}


def test_concurrent_reads_and_writes(store: VectorStore) -> None:
    points = random_points(80)
    errors: list[BaseException] = []

    def write(chunk: list[PointRecord]) -> None:
        try:
            for point in chunk:
                store.upsert([point])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(20):
                store.candidates({"text": points[0].vectors.get("text", np.ones(DIM))}, 5).table()
                store.count()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(points[i::2],)) for i in range(2)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 80


# --- the text signals: passage (another size) and lexical (sparse, IDF) ---------------------------


def idf_reference(points: list[PointRecord], query: SparseTerms) -> dict[str, float]:
    """Qdrant's sparse score with the IDF modifier, written out: for each shared term,
    query weight x document weight x ln(1 + (N - n + 0.5) / (n + 0.5)), where N counts the
    points that have the sparse vector and n those holding the term."""
    docs = {p.id: p.vectors["lexical"] for p in points if "lexical" in p.vectors}
    scores: dict[str, float] = {}
    for term, weight in zip(query.indices, query.values, strict=True):
        holders = {pid: t for pid, t in docs.items() if term in t.indices}
        idf = math.log(1 + (len(docs) - len(holders) + 0.5) / (len(holders) + 0.5))
        for pid, t in holders.items():
            value = t.values[t.indices.index(term)]
            scores[pid] = scores.get(pid, 0.0) + weight * value * idf
    return scores


def test_lexical_search_scores_with_idf(store: VectorStore) -> None:
    points = random_points(40)
    store.upsert(points)
    query = SparseTerms((2, 5, 9), (1.0, 1.0, 0.5))
    expected = idf_reference(points, query)
    hits = search(store, "lexical", query, 100)
    assert {i for i, _ in hits} == set(expected)
    for point_id, score in hits:
        assert score == pytest.approx(expected[point_id], rel=1e-4)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert search(store, "lexical", SparseTerms((), ()), 5) == []
    assert search(store, "lexical", SparseTerms((99,), (1.0,)), 5) == []


def test_passage_search_has_its_own_size(store: VectorStore) -> None:
    points = random_points(30)
    store.upsert(points)
    query = unit(np.random.default_rng(4), PASSAGE_DIM)
    with_passage = {
        p.id: float(p.vectors["passage"] @ query) for p in points if "passage" in p.vectors
    }
    hits = search(store, "passage", query, 100)
    assert [i for i, _ in hits] == sorted(with_passage, key=lambda i: -with_passage[i])
    for point_id, score in hits:
        assert score == pytest.approx(with_passage[point_id], abs=1e-5)


def four_queries() -> dict[str, np.ndarray | SparseTerms]:
    rng = np.random.default_rng(21)
    return {
        "image": unit(rng),
        "text": unit(rng),
        "passage": unit(rng, PASSAGE_DIM),
        "lexical": SparseTerms((1, 4, 7), (1, 1, 1)),
    }


@pytest.mark.parametrize(
    ("k", "weights"), [(2, (1, 1, 1, 1)), (60, (1, 1, 1, 1)), (60, (3, 1, 0.5, 2))]
)
def test_rrf_over_four_signals_matches_the_formula(
    store: VectorStore, k: int, weights: tuple[float, ...]
) -> None:
    store.upsert(random_points(60))
    found = store.candidates(four_queries(), 10)
    lists = list(lists_of(found).values())
    mean = sum(weights) / len(weights)
    expected = fuse.rrf(lists, k=k, weights=[w / mean for w in weights])
    fused = fuse.fuse(found, "rrf", dict(zip(found.names, weights, strict=True)), 100, k)
    assert {found.ids[r]: s for r, s in fused} == pytest.approx(expected, rel=1e-9)


def test_dbsf_over_four_signals_matches_the_formula(store: VectorStore) -> None:
    store.upsert(random_points(60))
    found = store.candidates(four_queries(), 10)
    expected = fuse.dbsf(list(lists_of(found).values()))
    fused = fuse.fuse(found, "dbsf", {}, 100)
    assert {found.ids[r]: s for r, s in fused} == pytest.approx(expected, rel=1e-9)
    (one,) = fuse.fuse(store.candidates({"image": four_queries()["image"]}, 1), "dbsf", {}, 5)
    assert one[1] == pytest.approx(0.5)


def test_a_query_without_terms_finds_nothing(store: VectorStore) -> None:
    store.upsert(random_points(20))
    query = unit(np.random.default_rng(3))
    both = store.candidates({"image": query, "lexical": SparseTerms((), ())}, 10)
    alone = store.candidates({"image": query}, 10)
    assert [i for i, _ in lists_of(both)["image"]] == [i for i, _ in lists_of(alone)["image"]]
    assert lists_of(both)["lexical"] == [] and set(both.ids) == set(alone.ids)


def test_old_collection_gets_the_new_vectors_in_place(empty_store: VectorStore) -> None:
    """A collection made before the text signals (image/text only) keeps its points; the
    passage and lexical vectors are added, and new points can carry them."""
    empty_store.ensure_collection(CLIP_ONLY)
    old = random_points(10, signals=False)
    empty_store.upsert(old)
    with pytest.raises(InvalidInputError, match=r"no vector '(passage|lexical)'"):
        empty_store.upsert(random_points(1, seed=5))
    empty_store.ensure_collection(LAYOUT)
    assert empty_store.collection_layout() == LAYOUT
    assert empty_store.count() == 10
    new = random_points(6, seed=9)
    for point in new:
        empty_store.upsert([PointRecord(make_id(100 + new.index(point)), point.vectors, {})])
    lexical = search(empty_store, "lexical", SparseTerms(tuple(range(12)), (1.0,) * 12), 100)
    passage = search(empty_store, "passage", unit(np.random.default_rng(1), PASSAGE_DIM), 100)
    new_ids = {make_id(100 + i) for i in range(6)}
    assert lexical and {i for i, _ in lexical} <= new_ids
    assert passage and {i for i, _ in passage} <= new_ids
    (kept,) = empty_store.get([old[0].id], with_vectors=True)
    assert_same_vectors(kept.vectors, old[0].vectors)


def test_a_vector_of_another_kind_is_a_mismatch(store: VectorStore) -> None:
    dense_lexical = CollectionLayout({"image": DIM, "text": DIM, "lexical": 4})
    with pytest.raises(CollectionMismatchError, match="sparse lexical"):
        store.ensure_collection(dense_lexical)
    other_passage = CollectionLayout.of(DIM, passage_dim=PASSAGE_DIM + 1)
    with pytest.raises(CollectionMismatchError, match="passage of size 6"):
        store.ensure_collection(other_passage)


def test_get_chooses_vector_names(store: VectorStore) -> None:
    points = random_points(30)
    store.upsert(points)
    chosen = points[:8]
    got = store.get([p.id for p in chosen], with_vectors=["lexical"])
    assert {p.id for p in got if p.vectors} == {p.id for p in chosen if "lexical" in p.vectors}
    assert all(set(p.vectors) <= {"lexical"} for p in got)


@pytest.mark.parametrize("where", [None, "any-of"])
def test_the_table_scores_every_candidate_for_every_signal(
    store: VectorStore, where: str | None
) -> None:
    """Exact cosines; lexical: the IDF score, 0 for a point with terms but none of the query's;
    NaN where the point lacks the vector. Filtered lists hold matching points only."""
    points = random_points(40)
    store.upsert(points)
    queries = four_queries()
    flt = None if where is None else FILTERS[where]
    found = store.candidates(queries, 5, flt)
    lexical = idf_reference(points, queries["lexical"])  # type: ignore[arg-type]
    table = found.table()
    assert table.shape == (len(found.ids), 4) and len(found.ids) > 5
    for row, point_id in enumerate(found.ids):
        point = by_id(points)[point_id]
        assert matches(point, flt)
        for column, name in enumerate(found.names):
            if name not in point.vectors:
                assert math.isnan(table[row, column]), (name, point_id)
            elif name == "lexical":
                assert table[row, column] == pytest.approx(lexical.get(point_id, 0.0), rel=1e-4)
            else:
                cosine = float(point.vectors[name] @ queries[name])  # type: ignore[operator]
                assert table[row, column] == pytest.approx(cosine, abs=1e-5)
    some = np.array([0, len(found.ids) - 1])
    np.testing.assert_array_equal(store.candidates(queries, 5, flt).table(some), table[some])


def test_searches_follow_writes(store: VectorStore) -> None:
    """Replacing a point drops the vectors it no longer has; deleted points are not found."""
    points = random_points(20)
    store.upsert(points)
    query = unit(np.random.default_rng(13))

    def ids(name: str, limit: int) -> list[str]:
        return [i for i, _ in search(store, name, query, limit)]

    first = ids("image", 1)[0]
    store.upsert([PointRecord(first, {"text": query}, {"n": -1})])
    assert first not in ids("image", 20)
    assert ids("text", 1) == [first]
    store.delete([first])
    assert first not in ids("text", 20)
    store.delete_by_filter(FILTERS["any-of"])
    left = {p.id for p in points if not matches(p, FILTERS["any-of"])} - {first}
    assert set(ids("text", 20)) <= left
    store.upsert(points[:3])
    with_text = [p for p in points[:3] if "text" in p.vectors]
    assert {p.id for p in with_text} <= set(ids("text", 20))


def test_filled_candidates_travel_as_a_plain_value(store: VectorStore) -> None:
    """``filled()`` scores every cell now: the copy pickles (to another process) and reads the
    same table as the candidates it came from."""
    store.upsert(random_points(40))
    found = store.candidates(four_queries(), 5)
    travelled = pickle.loads(pickle.dumps(found.filled()))
    np.testing.assert_array_equal(travelled.table(), found.table())
    assert travelled.ids == found.ids and travelled.names == found.names

"""The store contract: every engine (``store_settings``: Qdrant Edge, qdrant-client local mode)
behaves the same way on every method of :class:`rag.store.VectorStore`."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest

from rag.errors import CollectionMismatchError, InvalidInputError, NotFoundError
from rag.store import (
    DatetimeRange,
    Filter,
    HasId,
    MatchAny,
    MatchValue,
    PointRecord,
    Prefetch,
    Range,
    VectorStore,
)

from .helpers import DIM, make_id, matches, random_points, unit

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
    empty_store.ensure_collection(DIM)
    empty_store.ensure_collection(DIM)  # idempotent
    assert empty_store.collection_dim() == DIM


def test_mismatched_dim_raises_naming_both(store: VectorStore) -> None:
    with pytest.raises(CollectionMismatchError) as caught:
        store.ensure_collection(DIM * 4)
    message = str(caught.value)
    assert "'contract'" in message and f"size {DIM} " in message
    assert f"{DIM * 4} (Cosine)" in message
    assert "MMRAG_STORE__COLLECTION" in message


def test_empty_collection(store: VectorStore) -> None:
    query = unit(np.random.default_rng(0))
    assert store.count() == 0
    assert store.scroll() == ([], None)
    assert store.get([make_id(1)]) == []
    assert store.search("image", query, 5) == []
    both = [Prefetch("image", query, 5), Prefetch("text", query, 5)]
    assert store.fused_query(both, "rrf", 5) == []
    assert store.fused_query([Prefetch("image", query, 5)], "dbsf", 5) == []
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
        assert set(stored.vectors) == set(original.vectors)
        for name, vector in stored.vectors.items():
            assert vector.dtype == np.float32 and vector.shape == (DIM,)
            np.testing.assert_allclose(vector, original.vectors[name], atol=1e-6)
    assert store.get([points[0].id])[0].vectors == {}


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
        (PointRecord(make_id(1), {"audio": np.ones(DIM)}), "unknown vector name"),
        (PointRecord(make_id(1), {"text": np.ones(DIM + 1)}), "shape"),
        (PointRecord(make_id(1), {"text": np.full(DIM, np.nan)}), "NaN"),
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
        store.search("image", np.ones(DIM + 1), 3)
    with pytest.raises(InvalidInputError, match="limit"):
        store.search("image", np.ones(DIM), 0)
    with pytest.raises(InvalidInputError, match="fusion"):
        store.fused_query([Prefetch("image", np.ones(DIM), 3)], "max", 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at least one prefetch"):
        store.fused_query([], "rrf", 3)
    with pytest.raises(InvalidInputError, match="prefetch limit"):
        store.fused_query([Prefetch("image", np.ones(DIM), 0)], "rrf", 3)


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_match_reference(store: VectorStore, name: str) -> None:
    points = random_points(40)
    store.upsert(points)
    flt = FILTERS[name]
    expected = sorted(p.id for p in points if matches(p, flt))
    assert expected, "each filter should select something"
    assert store.count(flt) == len(expected)
    assert sorted(ids_of(store.scroll(flt, limit=100)[0])) == expected
    hits = store.search("text", unit(np.random.default_rng(1)), 100, flt)
    assert {h.id for h in hits} == {p.id for p in points if matches(p, flt) and "text" in p.vectors}


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


def test_search_best_first_by_cosine(store: VectorStore) -> None:
    points = random_points(30)
    store.upsert(points)
    query = unit(np.random.default_rng(7))
    hits = store.search("image", query, 5, with_vectors=True)
    with_image = [p for p in points if "image" in p.vectors]
    cosines = {p.id: float(p.vectors["image"] @ query) for p in with_image}
    expected = sorted(cosines, key=lambda i: -cosines[i])[:5]
    assert ids_of(hits) == expected
    for hit in hits:
        assert hit.score == pytest.approx(cosines[hit.id], abs=1e-5)
        assert hit.vectors["image"].dtype == np.float32
        assert hit.payload["n"] >= 0


def test_one_vector_points(store: VectorStore) -> None:
    rng = np.random.default_rng(11)
    query = unit(rng)
    image_only = PointRecord(make_id(1), {"image": query}, {"kind": "image-only"})
    text_only = PointRecord(make_id(2), {"text": query}, {"kind": "text-only"})
    both = PointRecord(make_id(3), {"image": unit(rng), "text": unit(rng)}, {"kind": "both"})
    store.upsert([image_only, text_only, both])
    assert ids_of(store.search("image", query, 10)) == [image_only.id, both.id]
    assert ids_of(store.search("text", query, 10)) == [text_only.id, both.id]
    prefetches = [Prefetch("image", query, 10), Prefetch("text", query, 10)]
    fused = store.fused_query(prefetches, "rrf", 10)
    scores = {h.id: h.score for h in fused}
    # image-only and text-only are each first of one list: 1/(2+0) ; both is second of each.
    assert scores[image_only.id] == pytest.approx(0.5)
    assert scores[text_only.id] == pytest.approx(0.5)
    assert scores[both.id] == pytest.approx(2 / 3)
    only_image = store.fused_query([Prefetch("image", query, 10)], "rrf", 10)
    assert text_only.id not in ids_of(only_image)


def test_fused_query_rrf_matches_definition(store: VectorStore) -> None:
    points = random_points(40)
    store.upsert(points)
    rng = np.random.default_rng(5)
    q_img, q_txt = unit(rng), unit(rng)
    image_ids = ids_of(store.search("image", q_img, 8))
    text_ids = ids_of(store.search("text", q_txt, 8))
    expected: dict[str, float] = {}
    for ranking in (image_ids, text_ids):
        for rank, point_id in enumerate(ranking):
            expected[point_id] = expected.get(point_id, 0.0) + 1 / (2 + rank)
    prefetches = [Prefetch("image", q_img, 8), Prefetch("text", q_txt, 8)]
    fused = store.fused_query(prefetches, "rrf", 100)
    assert {h.id: round(h.score, 5) for h in fused} == {k: round(v, 5) for k, v in expected.items()}
    assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)
    assert len(store.fused_query(prefetches, "rrf", 3)) == 3


def test_dbsf_list_of_one_scores_half(store: VectorStore) -> None:
    points = random_points(10)
    store.upsert(points)
    query = unit(np.random.default_rng(2))
    (hit,) = store.fused_query([Prefetch("image", query, 1)], "dbsf", 5)
    assert hit.score == pytest.approx(0.5)
    hits = store.fused_query([Prefetch("image", query, 5), Prefetch("text", query, 5)], "dbsf", 10)
    assert all(0.0 <= h.score <= 2.0 for h in hits)


def test_fused_query_filter_applies_to_every_list(store: VectorStore) -> None:
    points = random_points(40)
    store.upsert(points)
    query = unit(np.random.default_rng(9))
    flt = FILTERS["any-of"]
    prefetches = [Prefetch("image", query, 5), Prefetch("text", query, 5)]
    for fusion in ("rrf", "dbsf"):
        hits = store.fused_query(prefetches, fusion, 20, flt, with_vectors=True)
        assert hits and all(h.payload["source"] in ("b.jpg", "d.png") for h in hits)
        assert all(h.vectors for h in hits)


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
                store.search("text", points[0].vectors.get("text", np.ones(DIM)), 5)
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

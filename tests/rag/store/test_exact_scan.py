"""The embedded store's exact scan of its vector copy (``MMRAG_STORE__EXACT_SCAN_MAX_POINTS``):
unfiltered dense searches of a small collection give the engine's candidates."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from rag.config import StoreSettings
from rag.embedding.base import SparseTerms
from rag.errors import InvalidInputError
from rag.store import Candidates, Filter, MatchValue, PointRecord, open_store
from rag.store.edge import EdgeStore
from rag.store.edge_copy import VectorCopy

from .helpers import LAYOUT, PASSAGE_DIM, lists_of, make_id, random_points, unit


def scanning_store(tmp_path: Path, points: int = 60) -> EdgeStore:
    """An Edge store scanning its copy up to 1000 points, holding ``points`` random points (no
    HNSW graph that small: the engine's searches are exact too)."""
    store = EdgeStore(
        tmp_path / "shard", "scan", vector_copy_max_points=1000, exact_scan_max_points=1000
    )
    store.ensure_collection(LAYOUT)
    store.upsert(random_points(points))
    assert store.copies_vectors(wait=10)
    return store


def engine_calls(store: EdgeStore) -> list[str]:
    """The names of each engine search the store makes from now on."""
    calls: list[str] = []
    query_each = store._query_each

    def counted(queries, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.extend(queries)
        return query_each(queries, *args, **kwargs)

    store._query_each = counted  # type: ignore[method-assign]
    return calls


def scanned_and_engine(store: EdgeStore, queries: dict, limit: int) -> tuple[Candidates, ...]:
    """The candidates from the exact scan, then from the engine's search."""
    kept = store.exact_scan_max_points
    scanned = store.candidates(queries, limit)
    store.exact_scan_max_points = 0
    engine = store.candidates(queries, limit)
    engine.ranked(0)  # the engine's lists are read when first used
    store.exact_scan_max_points = kept
    return scanned, engine


def queries(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"image": unit(rng), "text": unit(rng), "passage": unit(rng, PASSAGE_DIM)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_scan_gives_the_engines_candidates(tmp_path: Path, seed: int) -> None:
    store = scanning_store(tmp_path)
    calls = engine_calls(store)
    got, expected = scanned_and_engine(store, queries(seed), 15)
    assert calls == list(queries(seed))  # the scan asked the engine nothing
    for name, found in lists_of(expected).items():
        mine = lists_of(got)[name]
        assert [s for _, s in mine] == pytest.approx([s for _, s in found], abs=1e-5)
        cut = found[-1][1] + 1e-5  # points tied at the cut: either may keep any of them
        assert [i for i, s in mine if s > cut] == [i for i, s in found if s > cut]
    common = [pid for pid in got.ids if pid in expected.ids]
    rows_got = np.array([got.ids.index(p) for p in common])
    rows_expected = np.array([expected.ids.index(p) for p in common])
    np.testing.assert_allclose(
        got.table(rows_got), expected.table(rows_expected), atol=1e-5, equal_nan=True
    )
    store.close()


def test_the_scan_follows_writes_and_deletes(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    q = {"image": queries(6)["image"]}
    first = lists_of(store.candidates(q, 3))["image"]
    store.delete([first[0][0]])
    store.upsert([PointRecord(make_id(500), {"image": q["image"]}, {})])
    after = lists_of(store.candidates(q, 3))["image"]
    assert after[0][0] == make_id(500) and after[0][1] == pytest.approx(1.0)
    assert first[0][0] not in {pid for pid, _ in after}
    store.close()


def test_filters_sparse_signals_and_big_collections_are_left_to_the_engine(
    tmp_path: Path,
) -> None:
    store = scanning_store(tmp_path)
    q = queries(7)
    calls = engine_calls(store)
    flt = Filter(must=(MatchValue("source", "b.jpg"),))
    found = store.candidates({"text": q["text"]}, 10, flt)
    assert found.ids and calls == ["text"]  # the engine's filtered list, scored from the copy
    terms = SparseTerms((1, 2), (1.0, 1.0))
    assert store.candidates({"image": q["image"], "lexical": terms}, 10).ids  # lists read on use
    assert calls[1:3] == ["image", "lexical"]
    store.exact_scan_max_points = 59  # the collection holds 60
    assert store.candidates({"image": q["image"]}, 10).ids
    assert calls[-1] == "image"
    store.close()


def test_a_scan_rejects_nan_and_scores_a_huge_query_as_its_unit_vector(tmp_path: Path) -> None:
    store = scanning_store(tmp_path)
    x = queries(9)["image"]
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        store.candidates({"image": np.where(np.arange(len(x)) == 3, np.nan, x)}, 5)
    with pytest.raises(InvalidInputError):
        store.candidates({"image": queries(9)["passage"]}, 5)  # wrong size
    huge = store.candidates({"image": x * np.float32(1e20)}, 60)  # its squared length overflows
    plain = store.candidates({"image": x}, 60)
    assert huge.ids == plain.ids
    np.testing.assert_allclose(huge.table(), plain.table(), atol=1e-6, equal_nan=True)
    store.close()


def test_the_scans_lists_hold_only_rows_with_the_vector() -> None:
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
    found = copy.scan([("image", x), ("text", x)], 5)
    image, text = lists_of(found)["image"], lists_of(found)["text"]
    assert [pid for pid, _ in image] == [make_id(2), make_id(4)]
    assert [s for _, s in image] == pytest.approx([0.6, 0.0], abs=1e-6)
    assert [pid for pid, _ in text] == [make_id(2), make_id(3)]
    row = found.ids.index(make_id(4))
    assert np.isnan(found.table()[row, 1])  # no text vector


def test_the_copy_scores_the_engines_lists_leaving_out_points_deleted_since() -> None:
    copy = VectorCopy({"image": 4, "text": 4})
    x, y = np.eye(4, dtype=np.float32)[:2]
    copy.write([(make_id(i), {"image": x, "text": y}) for i in (1, 2, 3)])
    copy.write([(make_id(4), {"image": y})])
    found = [[uuid.UUID(make_id(i)) for i in (2, 1, 9)], [uuid.UUID(make_id(4))]]
    copy.remove([make_id(1)])
    scored = copy.scored([("image", x), ("text", y)], found)
    assert sorted(scored.ids) == sorted([make_id(2), make_id(4)])
    assert [pid for pid, _ in lists_of(scored)["image"]] == [make_id(2)]
    assert [pid for pid, _ in lists_of(scored)["text"]] == [make_id(4)]  # as the engine listed
    table = scored.table()
    assert table[scored.ids.index(make_id(2))].tolist() == pytest.approx([1.0, 1.0])
    assert np.isnan(table[scored.ids.index(make_id(4)), 1])


def test_the_setting_reaches_the_embedded_store(tmp_path: Path) -> None:
    store = open_store(StoreSettings(collection="scan", exact_scan_max_points=123), tmp_path)
    assert isinstance(store, EdgeStore) and store.exact_scan_max_points == 123
    store.close()

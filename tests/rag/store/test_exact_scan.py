"""The embedded store's exact numpy scan of small collections (``MMRAG_STORE__EXACT_BELOW``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.store import Filter, HasId
from rag.store.edge import EdgeStore
from rag.store.exact import DenseMirror

from .helpers import LAYOUT, make_id, random_points, unit


def exact_hits(store: EdgeStore, name: str, query: np.ndarray) -> list[tuple[str, float]]:
    hits = store.search(name, query, 100, exact=True, with_payload=False)
    return [(h.id, round(h.score, 5)) for h in hits]


def test_the_scan_serves_a_small_collection_and_stops_past_the_threshold(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "shard", "scan", exact_below=25)
    store.ensure_collection(LAYOUT)
    points = random_points(30)
    store.upsert(points[:20])
    query = unit(np.random.default_rng(3))
    assert store.scanning
    scanned = exact_hits(store, "image", query)
    store.exact_below = 0
    assert exact_hits(store, "image", query) == scanned  # the engine's own exact search
    store.exact_below = 25
    store.upsert(points[20:])
    assert not store.scanning  # 30 points: HNSW from now on
    store.delete([p.id for p in points[20:]])
    assert store.scanning  # small again: the copy is rebuilt from the shard
    assert exact_hits(store, "image", query) == scanned
    store.close()


def test_a_reopened_store_scans_what_is_on_disk(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "shard", "scan", exact_below=100)
    store.ensure_collection(LAYOUT)
    points = random_points(15)
    store.upsert(points)
    query = unit(np.random.default_rng(4))
    before = exact_hits(store, "text", query)
    store.close()
    again = EdgeStore(tmp_path / "shard", "scan", exact_below=100)
    assert again.scanning
    assert exact_hits(again, "text", query) == before
    again.close()


def test_mirror_orders_ties_by_id_and_ignores_unknown_ids() -> None:
    mirror = DenseMirror({"image": 4})
    vector = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    ids = [make_id(n) for n in (3, 1, 2)]
    mirror.write((pid, {"image": vector}) for pid in ids)
    assert [h.id for h in mirror.search("image", vector, 2)] == sorted(ids)[:2]
    only = Filter(must=(HasId((ids[0], make_id(99))),))
    assert [h.id for h in mirror.search("image", vector, 5, only)] == [ids[0]]
    mirror.remove([ids[0], make_id(99)])
    assert len(mirror) == 2
    mirror.write([(make_id(7), {"image": 2 * vector})])  # reuses the freed row
    assert mirror.search("image", vector, 1, Filter(must=(HasId((make_id(7),)),)))[0].score == (
        pytest.approx(1.0)
    )


def test_mirror_serves_only_dense_names_and_id_filters() -> None:
    mirror = DenseMirror({"image": 4})
    assert mirror.serves("image", None)
    assert mirror.serves("image", Filter(must=(HasId(("x",)),)))
    assert not mirror.serves("lexical", None)
    assert not mirror.serves("image", Filter(must_not=(HasId(("x",)),)))

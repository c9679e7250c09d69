"""Edge knows when every point has its lexical vector, so scoring candidates need not ask which
of them have terms; the knowledge follows every write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.embedding.base import SparseTerms
from rag.store import PointRecord
from rag.store.edge import EdgeStore

from .helpers import LAYOUT, make_id, unit

QUERY = {"lexical": SparseTerms((1,), (1.0,))}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EdgeStore]:
    edge = EdgeStore(tmp_path / "shard", "presence")
    edge.ensure_collection(LAYOUT)
    yield edge
    edge.close()


def point(n: int, terms: tuple[int, ...] | None) -> PointRecord:
    rng = np.random.default_rng(n)
    vectors: dict[str, np.ndarray | SparseTerms] = {"image": unit(rng), "text": unit(rng)}
    if terms is not None:
        vectors["lexical"] = SparseTerms(terms, tuple(1.0 for _ in terms))
    return PointRecord(make_id(n), vectors, {"n": n})


def scores(store: EdgeStore, ids: list[str]) -> dict[str, float]:
    """Lexical scores of ``ids``, asked with a dense signal as retrieval asks."""
    rng = np.random.default_rng(99)
    return store._scores_of(ids, {"image": unit(rng), **QUERY})["lexical"]


def test_points_without_shared_terms_score_zero_and_points_without_terms_none(
    store: EdgeStore,
) -> None:
    store.upsert([point(1, (1, 2)), point(2, (3,)), point(3, (4, 5))])
    ids = [make_id(n) for n in (1, 2, 3)]
    got = scores(store, ids)
    assert got[make_id(2)] == 0.0 and got[make_id(3)] == 0.0 and got[make_id(1)] > 0
    assert store._every_point_has("lexical")

    store.upsert([point(4, None)])  # no terms: the collection is no longer complete
    assert not store._every_point_has("lexical")
    got = scores(store, [*ids, make_id(4)])
    assert make_id(4) not in got and got[make_id(3)] == 0.0

    store.upsert([point(4, (6,))])  # replaced with terms: known complete again after a count,
    store.delete([make_id(2)])  # which a delete brings
    assert store._every_point_has("lexical")
    got = scores(store, [*ids, make_id(4), make_id(99)])
    assert got == {make_id(1): got[make_id(1)], make_id(3): 0.0, make_id(4): 0.0}


def test_a_point_without_terms_counts_after_reopening(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "shard", "presence")
    store.ensure_collection(LAYOUT)
    store.upsert([point(1, (1,)), point(2, None)])
    store.close()
    reopened = EdgeStore(tmp_path / "shard", "presence")
    assert not reopened._every_point_has("lexical")
    assert set(scores(reopened, [make_id(1), make_id(2)])) == {make_id(1)}
    reopened.close()

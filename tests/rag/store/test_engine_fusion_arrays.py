"""The array forms of the engine's fusion formulas give the very values of the list forms (the
exact scan of a small collection fuses with them; the engine's results are the reference)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.store import engine_fusion


def row_lists() -> st.SearchStrategy[list[list[tuple[int, float]]]]:
    """Up to four lists of distinct rows with scores, best first."""
    one = st.lists(
        st.tuples(st.integers(0, 40), st.floats(-1, 1, allow_subnormal=False)),
        max_size=25,
        unique_by=lambda pair: pair[0],
    ).map(lambda pairs: sorted(pairs, key=lambda pair: -pair[1]))
    return st.lists(one, min_size=1, max_size=4)


def as_ids(lists: list[list[tuple[int, float]]]) -> list[list[tuple[str, float]]]:
    return [[(f"p{row:03d}", score) for row, score in found] for found in lists]


def summed_by_id(lists, parts) -> dict[str, float]:  # type: ignore[no-untyped-def]
    rows, sums = engine_fusion.summed(
        [np.array([row for row, _ in found], np.int64) for found in lists], parts, 41
    )
    return {f"p{row:03d}": value for row, value in zip(rows.tolist(), sums.tolist(), strict=True)}


@settings(max_examples=80, deadline=None)
@given(row_lists(), st.integers(1, 100), st.data())
def test_summed_rrf_terms_equal_rrf(lists, k, data) -> None:
    weights = data.draw(st.lists(st.floats(0, 3), min_size=len(lists), max_size=len(lists)))
    parts = [
        engine_fusion.rrf_terms(len(found), k, w) for found, w in zip(lists, weights, strict=True)
    ]
    assert summed_by_id(lists, parts) == engine_fusion.rrf(as_ids(lists), k, weights)


@settings(max_examples=80, deadline=None)
@given(row_lists())
def test_summed_dbsf_scaled_equal_dbsf(lists) -> None:
    parts = [engine_fusion.dbsf_scaled(np.array([s for _, s in found])) for found in lists]
    assert summed_by_id(lists, parts) == engine_fusion.dbsf(as_ids(lists))


@given(st.integers(0, 200), st.integers(1, 100), st.floats(0, 5))
def test_rrf_terms_are_the_weighted_rrf_formula_at_each_position(count, k, weight) -> None:
    terms = engine_fusion.rrf_terms(count, k, weight)
    expected = [0.0 if weight <= 0 else 1 / ((i + 1) / weight + k - 1) for i in range(count)]
    assert terms.tolist() == expected
    assert not terms.flags.writeable  # kept between calls: nobody may change it


def test_summed_of_no_lists_is_empty() -> None:
    rows, sums = engine_fusion.summed([], [], 10)
    assert rows.size == 0 and sums.size == 0


@given(st.lists(st.floats(-1, 1, allow_subnormal=False), max_size=60))
def test_dbsf_scaled_is_numpys_mean_and_sample_deviation_formula(scores) -> None:
    values = np.array(scores)
    if len(values) < 2 or np.var(values, ddof=1) == 0:
        expected = np.full(len(values), 0.5)
    else:
        mean, std = float(values.mean()), float(np.std(values, ddof=1))
        expected = (values - (mean - 3 * std)) / ((mean + 3 * std) - (mean - 3 * std))
    assert engine_fusion.dbsf_scaled(values).tolist() == expected.tolist()

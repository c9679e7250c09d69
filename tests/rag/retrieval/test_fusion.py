"""Fusion functions against hand-computed values, Qdrant's own reference code, and properties."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qdrant_client.http import models
from qdrant_client.hybrid.fusion import distribution_based_score_fusion, reciprocal_rank_fusion

from rag.retrieval import fusion
from rag.store.candidates import Candidates

IDS = [f"p{i:02d}" for i in range(30)]


def candidate_lists(max_lists: int = 4) -> st.SearchStrategy[list[list[tuple[str, float]]]]:
    """Lists of distinct ids with descending scores, as engines return them."""

    def one_list(ids: list[str]) -> st.SearchStrategy[list[tuple[str, float]]]:
        scores = st.lists(
            st.floats(-1, 1, allow_nan=False), min_size=len(ids), max_size=len(ids)
        ).map(lambda values: sorted(values, reverse=True))
        return scores.map(lambda values: list(zip(ids, values, strict=True)))

    ids = st.lists(st.sampled_from(IDS), unique=True, min_size=1, max_size=12)
    return st.lists(ids.flatmap(one_list), min_size=1, max_size=max_lists)


def _qdrant_points(candidates: list[tuple[str, float]]) -> list[models.ScoredPoint]:
    return [models.ScoredPoint(id=i, version=0, score=s) for i, s in candidates]


# --- hand-computed values -----------------------------------------------------------------------


def test_rrf_matches_hand_computed_values() -> None:
    lists = [[("a", 0.9), ("b", 0.8)], [("b", 0.7), ("c", 0.1)]]
    scores = fusion.rrf(lists, k=60)
    assert scores["a"] == pytest.approx(1 / 60)
    assert scores["b"] == pytest.approx(1 / 61 + 1 / 60)
    assert scores["c"] == pytest.approx(1 / 61)


def test_weighted_rrf_divides_the_rank_by_the_weight() -> None:
    scores = fusion.rrf([[("a", 1.0), ("b", 0.5)], [("b", 1.0)]], k=2, weights=[2.0, 0.0])
    assert scores["a"] == pytest.approx(1 / (1 / 2 + 1))  # rank 1 / weight 2 + k - 1
    assert scores["b"] == pytest.approx(1 / (2 / 2 + 1))  # the zero-weight list adds nothing


def test_dbsf_matches_hand_computed_values() -> None:
    lists = [[("a", 0.9), ("b", 0.5), ("c", 0.1)], [("b", 2.0)]]
    std = 0.4  # sample standard deviation of 0.9, 0.5, 0.1
    low, high = 0.5 - 3 * std, 0.5 + 3 * std
    scores = fusion.dbsf(lists)
    assert scores["a"] == pytest.approx((0.9 - low) / (high - low))
    assert scores["b"] == pytest.approx((0.5 - low) / (high - low) + 0.5)  # a one-item list: 0.5
    assert scores["c"] == pytest.approx((0.1 - low) / (high - low))


def test_weighted_scores_renormalise_over_present_vectors() -> None:
    sims = np.array([[0.2, 0.6], [np.nan, 0.6], [0.4, np.nan], [np.nan, np.nan]])
    values = fusion.weighted_scores(sims, np.array([0.25, 0.75]))
    assert values[0] == pytest.approx(0.25 * 0.2 + 0.75 * 0.6)
    assert values[1] == pytest.approx(0.6)
    assert values[2] == pytest.approx(0.4)
    assert math.isnan(values[3])


def test_weighted_scores_leave_out_items_with_only_zero_weight_vectors() -> None:
    sims = np.array([[0.3, np.nan], [0.3, 0.9]])
    values = fusion.weighted_scores(sims, np.array([0.0, 1.0]))
    assert math.isnan(values[0])
    assert values[1] == pytest.approx(0.9)


def test_ranked_breaks_ties_by_id() -> None:
    assert fusion.ranked({"b": 1.0, "a": 1.0, "c": 2.0}) == [("c", 2.0), ("a", 1.0), ("b", 1.0)]
    assert fusion.ranked({"b": 1.0, "a": 1.0, "c": 2.0}, limit=2) == [("c", 2.0), ("a", 1.0)]


def test_cosines_are_exact_for_unnormalised_vectors() -> None:
    values = fusion.cosines(np.array([2.0, 0.0]), np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    assert values.tolist() == pytest.approx([1.0, math.sqrt(0.5), 0.0])


# --- Qdrant's own implementations as the reference ---------------------------------------------


@settings(max_examples=60, deadline=None)
@given(candidate_lists(), st.integers(1, 100), st.data())
def test_rrf_equals_qdrant_reference(lists, k, data) -> None:
    weights = data.draw(st.lists(st.floats(0, 3), min_size=len(lists), max_size=len(lists)))
    expected = reciprocal_rank_fusion(
        [_qdrant_points(c) for c in lists], limit=100, ranking_constant_k=k, weights=weights
    )
    scores = fusion.rrf(lists, k=k, weights=weights)
    assert {p.id: p.score for p in expected} == pytest.approx(scores)


@settings(max_examples=60, deadline=None)
@given(candidate_lists())
def test_dbsf_equals_qdrant_reference(lists) -> None:
    expected = distribution_based_score_fusion([_qdrant_points(c) for c in lists], limit=100)
    assert {p.id: p.score for p in expected} == pytest.approx(fusion.dbsf(lists), abs=1e-9)


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(candidate_lists(), st.randoms(use_true_random=False))
def test_rrf_and_dbsf_do_not_depend_on_list_order(lists, rng: random.Random) -> None:
    weights = [rng.uniform(0.1, 2) for _ in lists]
    order = list(range(len(lists)))
    rng.shuffle(order)
    shuffled = [lists[i] for i in order]
    assert fusion.rrf(shuffled, 60, [weights[i] for i in order]) == pytest.approx(
        fusion.rrf(lists, 60, weights)
    )
    assert fusion.dbsf(shuffled) == pytest.approx(fusion.dbsf(lists))


@settings(max_examples=60, deadline=None)
@given(candidate_lists(), st.floats(0.01, 100))
def test_rrf_equal_weights_of_one_are_plain_rrf(lists, _scale) -> None:
    assert fusion.rrf(lists, 60, [1.0] * len(lists)) == pytest.approx(fusion.rrf(lists, 60))


def similarity_rows() -> st.SearchStrategy[np.ndarray]:
    cell = st.one_of(st.floats(-1, 1, allow_subnormal=False), st.just(float("nan")))
    rows = st.lists(st.lists(cell, min_size=2, max_size=2), min_size=1, max_size=20)
    return rows.map(lambda r: np.array(r, dtype=np.float64))


@settings(max_examples=80, deadline=None)
@given(similarity_rows(), st.floats(0.01, 10), st.floats(0.01, 10), st.floats(0.01, 100))
def test_weighted_scores_properties(sims, w_image, w_text, scale) -> None:
    weights = np.array([w_image, w_text])
    values = fusion.weighted_scores(sims, weights)
    # scale invariance: only the ratio of the weights matters
    np.testing.assert_allclose(
        fusion.weighted_scores(sims, weights * scale), values, rtol=1e-9, atol=1e-12
    )
    # permutation invariance: reordering items reorders their scores, nothing else
    order = np.random.default_rng(len(sims)).permutation(len(sims))
    np.testing.assert_allclose(fusion.weighted_scores(sims[order], weights), values[order])
    for row, value in zip(sims, values, strict=True):
        present = row[~np.isnan(row)]
        if present.size == 0:
            assert math.isnan(value)
        else:  # a weighted average lies between its parts
            assert present.min() - 1e-12 <= value <= present.max() + 1e-12


@settings(max_examples=120, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda k: st.tuples(
            st.lists(
                st.lists(
                    st.one_of(st.floats(-1, 1), st.just(float("nan"))), min_size=k, max_size=k
                ),
                min_size=1,
                max_size=12,
            ),
            st.lists(st.floats(0, 10), min_size=k, max_size=k),
        )
    )
)
def test_a_weighted_score_is_the_same_bits_in_any_batch(case) -> None:
    rows, weights = np.array(case[0], dtype=np.float64), np.array(case[1])
    together = fusion.weighted_scores(rows, weights)
    for row, value in zip(rows, together.tolist(), strict=True):  # alone: no other row's NaN
        alone = fusion.weighted_scores(row[None, :], weights)[0]
        assert alone == value or (math.isnan(alone) and math.isnan(value))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(IDS), st.sampled_from([0.1, 0.2, 0.3])))
def test_ranked_is_deterministic_under_ties(scores) -> None:
    reversed_insertion = dict(reversed(list(scores.items())))
    order = fusion.ranked(scores)
    assert order == fusion.ranked(reversed_insertion)
    assert order == sorted(scores.items(), key=lambda item: (-item[1], item[0]))


# --- over a Candidates: the list formulas, by rows -------------------------------------------


def as_candidates(lists: list[list[tuple[str, float]]]) -> Candidates:
    names = [f"s{i}" for i in range(len(lists))]
    return Candidates.from_lists(dict(zip(names, lists, strict=True)), {}, None)


@settings(max_examples=60, deadline=None)
@given(candidate_lists(), st.integers(1, 100), st.data())
def test_fuse_rrf_over_candidates_equals_the_list_formula(lists, k, data) -> None:
    weights = data.draw(st.lists(st.floats(0.1, 3), min_size=len(lists), max_size=len(lists)))
    found = as_candidates(lists)
    given = dict(zip(found.names, weights, strict=True))
    mean = sum(weights) / len(weights)
    expected = fusion.ranked(fusion.rrf(lists, k, [w / mean for w in weights]))
    got = fusion.fuse(found, "rrf", given, 100, k)
    assert [(found.ids[row], score) for row, score in got] == expected  # the very bits


@settings(max_examples=60, deadline=None)
@given(candidate_lists())
def test_fuse_dbsf_over_candidates_equals_the_list_formula(lists) -> None:
    found = as_candidates(lists)
    got = fusion.fuse(found, "dbsf", {}, 100)
    assert [(found.ids[row], score) for row, score in got] == fusion.ranked(fusion.dbsf(lists))


def test_fuse_weighted_reads_the_table_and_divides_lexical_by_its_best() -> None:
    lists = {"image": [("a", 0.8), ("b", 0.4)], "lexical": [("b", 4.0), ("c", 2.0)]}
    table = {("a", "lexical"): 0.0, ("c", "image"): 0.2}  # a has terms, none of the query's
    asked: list[tuple[list[str], list[str]]] = []

    def lookup(ids, names):  # type: ignore[no-untyped-def]
        asked.append((list(ids), list(names)))
        return {n: {i: table[(i, n)] for i in ids if (i, n) in table} for n in names}

    found = Candidates.from_lists(lists, {"image": False, "lexical": False}, lookup)
    got = fusion.fuse(found, "weighted", {"image": 1.0, "lexical": 1.0}, 2)
    assert [(found.ids[row], score) for row, score in got] == [
        ("b", pytest.approx(0.7)),  # (0.4 + 4/4) / 2
        ("a", pytest.approx(0.4)),  # (0.8 + 0) / 2; c: (0.2 + 2/4) / 2 = 0.35
    ]
    assert asked == [(["a", "c"], ["image", "lexical"])]  # one lookup for every open cell


def test_fuse_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="rrf, dbsf or weighted"):
        fusion.fuse(as_candidates([[("a", 1.0)]]), "max", {}, 1)  # type: ignore[arg-type]


def test_ties_at_the_cut_are_kept_by_id() -> None:
    found = as_candidates([[("c", 1.0), ("a", 1.0), ("b", 1.0)]])
    got = fusion.best(found, np.arange(3), np.array([0.5, 0.5, 0.9]), 2)
    assert [(found.ids[row], v) for row, v in got] == [("b", 0.9), ("a", 0.5)]

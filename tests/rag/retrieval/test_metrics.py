"""Ranking metrics on fixtures with known answers, and evaluation end to end on a real store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag.errors import InvalidInputError
from rag.retrieval.evaluate import EvalQuery, evaluate, load_queries, ranked_keys
from rag.retrieval.metrics import (
    mean_metrics,
    ndcg_at_k,
    query_metrics,
    recall_at_k,
    reciprocal_rank,
)
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Hit, Query, Scores

from .conftest import Item
from .test_rerank import KeywordReranker

RANKED = ["a", "b", "c", "d", "e"]


def test_recall_at_k() -> None:
    assert recall_at_k(RANKED, {"b", "z"}, 1) == 0.0
    assert recall_at_k(RANKED, {"b", "z"}, 2) == 0.5
    assert recall_at_k(RANKED, {"a", "e"}, 5) == 1.0
    assert recall_at_k(RANKED, set(), 5) == 0.0


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(RANKED, {"c", "e"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, {"z"}) == 0.0


def test_ndcg_at_k_against_hand_computed_value() -> None:
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # relevant at ranks 2 and 4
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(RANKED, {"b", "d"}, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["b", "d", "a"], {"b", "d"}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(RANKED, {"b", "d"}, 1) == 0.0


def test_repeated_ids_count_once() -> None:
    assert recall_at_k(["a", "a", "b"], {"a", "b"}, 2) == 1.0
    assert ndcg_at_k(["a", "a", "b"], {"a", "b"}, 10) == pytest.approx(1.0)


def test_query_and_mean_metrics() -> None:
    rows = [query_metrics(RANKED, {"a"}), query_metrics(RANKED, {"z"})]
    mean = mean_metrics(rows)
    assert mean == {"recall@1": 0.5, "recall@5": 0.5, "recall@10": 0.5, "mrr": 0.5, "ndcg@10": 0.5}
    assert mean_metrics([]) == {}


def test_ranked_keys_accept_external_ids() -> None:
    hits = [
        Hit("p1", {"external_id": "ext-1"}, Scores(None, None, 1.0)),
        Hit("p2", {"external_id": "ext-2"}, Scores(None, None, 0.5)),
    ]
    assert ranked_keys(hits, frozenset({"ext-2", "p1"})) == ["p1", "ext-2"]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_load_queries_reads_text_images_and_ids(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "q.png")
    path = _write(
        tmp_path / "q.jsonl",
        [{"text": "red", "relevant": ["a"]}, {"image": "q.png", "relevant_ids": "b"}],
    )
    queries = load_queries(path)
    assert queries[0] == EvalQuery(frozenset({"a"}), "red", None)
    assert queries[1] == EvalQuery(frozenset({"b"}), None, tmp_path / "q.png")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"relevant": ["a"]}, "text"),
        ({"text": "red"}, "relevant"),
        ({"image": "nope.png", "relevant": ["a"]}, "does not exist"),
    ],
)
def test_load_queries_names_the_bad_line(tmp_path: Path, row: dict, message: str) -> None:
    path = _write(tmp_path / "q.jsonl", [{"text": "ok", "relevant": ["a"]}, row])
    with pytest.raises(InvalidInputError, match=f"q.jsonl:2: .*{message}"):
        load_queries(path)


def test_evaluate_on_known_answers(retriever: Retriever, corpus: list[Item]) -> None:
    """The first hit of each query is its answer by construction (point id or external id)."""
    queries = []
    for n, text in enumerate(["red", "a blue thing", "number 3"]):
        hits = retriever.search(Query(text=text, fusion="weighted", top_k=10)).hits
        label = hits[0].id if n % 2 else str(hits[0].payload["external_id"])
        queries.append(EvalQuery(frozenset({label}), text))
    ranked = Retriever(retriever.embedder, retriever.store, retriever.settings, KeywordReranker())
    rows = evaluate(ranked, queries)
    labels = ("image", "text", "rrf", "dbsf", "weighted")  # the CLIP signals alone, then fused
    assert [(row.label, row.rerank) for row in rows] == [
        (label, flag) for label in labels for flag in (False, True)
    ]
    assert [row.fusion for row in rows[::2]] == [None, None, "rrf", "dbsf", "weighted"]
    weighted = next(row for row in rows if row.fusion == "weighted" and not row.rerank)
    assert weighted.metrics["recall@1"] == 1.0
    assert weighted.metrics["mrr"] == 1.0
    assert weighted.metrics["ndcg@10"] == 1.0
    for row in rows:
        assert set(row.metrics) == {"recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"}
        assert all(0.0 <= value <= 1.0 for value in row.metrics.values())


def test_evaluate_without_reranker_gives_unreranked_rows_only(retriever: Retriever) -> None:
    rows = evaluate(retriever, [EvalQuery(frozenset({"x"}), "red")], modes=["rrf"])
    assert [(row.label, row.rerank) for row in rows] == [
        ("image", False),
        ("text", False),
        ("rrf", False),
    ]
    assert rows[-1].metrics["recall@10"] == 0.0

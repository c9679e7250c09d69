"""BEIR sets: reading the three files, the BEIR metrics, and the paired significance tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats

from rag.errors import InvalidInputError
from rag.retrieval.beir import beir_metrics, is_beir_folder, load_beir
from rag.retrieval.significance import paired_test


def write(folder: Path, corpus: list[dict], queries: list[dict], qrels: str) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(row) for row in queries))
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


def test_metrics_by_hand() -> None:
    ranked = ["x", "a", "y", "b", *(f"n{i}" for i in range(200)), "c"]
    metrics = beir_metrics(ranked, {"a", "b", "c"})
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics["ndcg@10"] == pytest.approx(dcg / ideal)
    assert metrics["mrr@10"] == 0.5
    assert metrics["recall@100"] == pytest.approx(2 / 3)  # c ranks past 100
    assert beir_metrics([f"n{i}" for i in range(10)] + ["a"], {"a"})["mrr@10"] == 0.0


def test_a_set_reads_with_titles_grades_and_a_header(tmp_path: Path) -> None:
    corpus = [{"_id": "d1", "title": "Pumps", "text": "230 volts"}, {"_id": 2, "text": "cats"}]
    queries = [{"_id": "q1", "text": "pump power"}, {"_id": "q2", "text": "no label"}]
    folder = write(tmp_path / "set", corpus, queries, "query-id\tcorpus-id\tscore\nq1\td1\t2\n")
    beir = load_beir(folder)
    assert is_beir_folder(folder) and beir.name == "set"
    assert [d.body for d in beir.corpus] == ["Pumps\n\n230 volts", "cats"]
    assert [(q.text, q.relevant) for q in beir.queries] == [("pump power", frozenset({"d1"}))]


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("q1\td9\t1\n", r"'d9' is not in the set"),
        ("q1\td1\n", r"test.tsv:1: write query-id, corpus-id, score"),
        ("q1\td1\t0\n", r"labels no query"),
    ],
)
def test_bad_qrels_name_the_line(tmp_path: Path, qrels: str, message: str) -> None:
    folder = write(
        tmp_path / "s", [{"_id": "d1", "text": "t"}], [{"_id": "q1", "text": "q"}], qrels
    )
    with pytest.raises(InvalidInputError, match=message):
        load_beir(folder)


def test_a_missing_file_or_a_bad_line_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"corpus.jsonl is missing"):
        load_beir(tmp_path)
    folder = write(tmp_path / "s", [{"_id": "d1"}], [{"_id": "q1", "text": "q"}], "q1\td1\t1\n")
    with pytest.raises(InvalidInputError, match=r'corpus.jsonl:1: give "text"'):
        load_beir(folder)


def test_paired_randomisation_test_by_hand() -> None:
    # one query differs: every sign flip keeps |mean| the same, so p is 1
    result = paired_test([0.5, 1.0, 0.0], [0.3, 1.0, 0.0])
    assert result.mean_difference == pytest.approx(0.2 / 3)
    assert result.p_randomisation == 1.0
    assert paired_test([0.5, 0.5], [0.2, 0.2]).p_t is None  # no spread: no t statistic
    # two queries that differ by the same amount: 2 of the 4 sign patterns reach |mean| 1
    two = paired_test([1.0, 1.0], [0.0, 0.0], rounds=20_000)
    assert two.p_randomisation == pytest.approx(0.5, abs=0.02)


def test_paired_tests_find_a_consistent_gain_and_match_scipy() -> None:
    a = [0.9, 0.8, 0.85, 0.7, 0.95, 0.9, 0.6, 0.8, 0.75, 0.9]
    b = [0.7, 0.6, 0.8, 0.5, 0.9, 0.85, 0.4, 0.7, 0.7, 0.6]
    result = paired_test(a, b)
    assert result.queries == 10 and result.mean_difference > 0
    assert result.p_randomisation < 0.01
    assert result.p_t == pytest.approx(stats.ttest_rel(a, b).pvalue)
    with pytest.raises(InvalidInputError, match="equal, non-empty"):
        paired_test([1.0], [1.0, 2.0])

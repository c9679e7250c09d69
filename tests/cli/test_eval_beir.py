"""``mmrag eval FOLDER`` on a small generated BEIR-format set, through the real ingest, embedded
Qdrant Edge and the lexical signal alone (tiny CLIP, no passage model), against metrics worked
out by hand from the rankings that BM25 must give."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag_cli.main import app

runner = CliRunner()
CORPUS = {
    "d1": "alpha reactor manual with many more words on pumps valves seals gaskets filters hoses",
    "d2": "alpha alpha checklist",
    "d3": "bravo gearbox notes",
    "d4": "delta wiring diagram",
    "d5": "echo cooling loop",
}
QUERIES = {"q1": "alpha", "q2": "bravo", "q3": "charlie", "q4": "delta echo", "q5": "hoses"}
QRELS = [("q1", "d1", 1), ("q2", "d3", 2), ("q3", "d4", 1), ("q4", "d4", 1), ("q4", "d5", 1)]
QRELS += [("q2", "d2", 0)]  # grade 0: not relevant; q5 has no relevant document: left out


def write_set(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    rows = [{"_id": key, "title": "", "text": text} for key, text in CORPUS.items()]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    queries = [{"_id": key, "text": text} for key, text in QUERIES.items()]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{s}" for q, d, s in QRELS)]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings = {
        "MMRAG_DATA_DIR": str(tmp_path / "data"),
        "MMRAG_CLIP__MODEL": "mmrag-tiny",
        "MMRAG_CLIP__PRETRAINED": "",
        "MMRAG_CLIP__THREADS": "1",
        "MMRAG_RERANK__MODEL": "none",
        "MMRAG_PASSAGE__MODEL": "none",
        "MMRAG_LOG_LEVEL": "WARNING",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return write_set(tmp_path / "tiny-set")


def test_metrics_of_a_generated_set_match_the_hand_computed_ones(env: Path) -> None:
    args = ["eval", str(env), "--signals", "lexical", "--no-rerank", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["set"], report["documents"], report["queries"]) == ("tiny-set", 5, 4)
    assert report["written"] == 5
    (row,) = report["results"]
    assert row["label"] == "lexical"
    # q1: d2 ("alpha" twice, short) ranks before d1, so d1 is second; q2: d3 first;
    # q3: no document has "charlie"; q4: d4 and d5 are the only matches, the first two.
    ndcg = [1 / math.log2(3), 1.0, 0.0, 1.0]
    mrr = [0.5, 1.0, 0.0, 1.0]
    recall = [1.0, 1.0, 0.0, 1.0]
    assert row["ndcg@10"] == pytest.approx(sum(ndcg) / 4)
    assert row["mrr@10"] == pytest.approx(sum(mrr) / 4)
    assert row["recall@100"] == pytest.approx(sum(recall) / 4)

    again = runner.invoke(app, args)  # the corpus is unchanged: nothing is written again
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["written"] == 0


def test_a_comparison_of_an_unknown_row_names_the_rows(env: Path) -> None:
    args = ["eval", str(env), "--signals", "lexical", "--no-rerank", "--compare", "rrf,lexical"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert "no row 'rrf'" in result.output and "lexical" in result.output

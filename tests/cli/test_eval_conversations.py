"""``mmrag eval`` of a conversation set (``examples/conversations``): the real ingest of its
manifest, embedded Qdrant Edge, the lexical signal, the extractive backend; the follow-ups'
Recall@k for each condense mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag_cli.main import app
from rag.errors import InvalidInputError
from rag.retrieval.conversations import is_conversation_set, load_conversations

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "conversations"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {
        "MMRAG_DATA_DIR": str(tmp_path / "data"),
        "MMRAG_CLIP__MODEL": "mmrag-tiny",
        "MMRAG_CLIP__PRETRAINED": "",
        "MMRAG_CLIP__THREADS": "1",
        "MMRAG_RERANK__MODEL": "none",
        "MMRAG_PASSAGE__MODEL": "none",
        "MMRAG_LLM__BACKEND": "extractive",
        "MMRAG_LOG_LEVEL": "WARNING",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def test_the_example_conversation_set_reports_recall_per_condense_mode(env: None) -> None:
    ingested = runner.invoke(app, ["ingest", str(EXAMPLE / "items.jsonl")])
    assert ingested.exit_code == 0, ingested.output
    args = ["eval", str(EXAMPLE / "conversations.jsonl"), "--signals", "lexical", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {row["mode"]: row for row in report["results"]}
    assert report["follow_ups"] == 6 and list(rows) == ["off", "rules", "llm"]
    assert rows["off"]["methods"] == {"off": 6}
    assert rows["rules"]["methods"] == {"rules": 6}
    assert rows["llm"]["methods"] == {"rules": 6}  # extractive: the rewrite falls back
    assert rows["rules"]["metrics"]["recall@10"] > rows["off"]["metrics"]["recall@10"]


def test_a_conversation_set_is_told_from_a_query_set(tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"text": "a", "relevant": ["x"]}\n')
    assert is_conversation_set(EXAMPLE / "conversations.jsonl")
    assert not is_conversation_set(queries)


def test_a_follow_up_without_history_is_an_error_naming_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"history": [], "question": "and?", "relevant": ["x"]}\n')
    with pytest.raises(InvalidInputError, match=r"c.jsonl:1: give \"history\""):
        load_conversations(bad)

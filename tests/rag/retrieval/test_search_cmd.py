"""``mmrag search`` and ``mmrag eval`` on a real embedded store with the tiny CLIP and Qwen3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from mmrag_cli.main import app

from .conftest import Item

runner = CliRunner()


def test_search_json_with_filter_and_weights(cli_env: Path) -> None:
    args = ["search", "a red thing", "--json", "--top-k", "3", "--filter", "metadata.color=red"]
    args += ["--signals", "image,text"]
    result = runner.invoke(app, [*args, "--fusion", "weighted", "--weights", "image=1,text=3"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["hits"]) == 3 and body["reranked"] is False
    assert {"encode", "store", "fuse"} <= set(body["timings_ms"])
    for hit in body["hits"]:
        assert hit["payload"]["metadata"]["color"] == "red"
        assert set(hit["scores"]) == {"image", "text", "passage", "lexical", "fused", "rerank"}


def test_search_table_with_an_image(cli_env: Path) -> None:
    picture = cli_env / "query.png"
    Image.new("RGB", (32, 32), (200, 20, 20)).save(picture)
    result = runner.invoke(app, ["search", "--image", str(picture), "--fusion", "dbsf"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    assert header[:7] == ["#", "fused", "image", "text", "passage", "lexical", "rerank"]
    assert "encode" in result.stdout.splitlines()[-1]


def test_search_reranks_with_a_local_qwen3_folder(
    cli_env: Path, qwen_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMRAG_RERANK__MODEL", str(qwen_folder))
    monkeypatch.setenv("MMRAG_RERANK__DEVICE", "cpu")
    monkeypatch.setenv("MMRAG_RERANK__TOP_N", "4")
    result = runner.invoke(app, ["search", "a blue thing", "--json", "--top-k", "6"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["reranked"] is True
    assert any(hit["scores"]["rerank"] is not None for hit in body["hits"][:4])
    assert all(hit["scores"]["rerank"] is None for hit in body["hits"][4:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "x", "--filter", "color"], "key=value"),
        (["search", "x", "--weights", "image"], "image=0.5"),
        (["search", "x", "--rerank"], "MMRAG_RERANK__MODEL"),
        (["search"], "text, an image"),
        (["search", "x", "--signals", "colour"], "image, text, passage, lexical"),
        (["search", "x", "--signals", "passage,lexical"], "MMRAG_PASSAGE__MODEL"),
    ],
)
def test_search_errors_are_one_line(cli_env: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


def test_eval_prints_metrics_per_signal_and_fusion_mode(cli_env: Path, corpus: list[Item]) -> None:
    queries = cli_env / "queries.jsonl"
    rows = [
        {"text": "a red thing number 0", "relevant": [corpus[0].external_id]},
        {"text": "blue", "relevant": [corpus[1].id, corpus[5].external_id]},
    ]
    queries.write_text("\n".join(json.dumps(row) for row in rows))
    result = runner.invoke(app, ["eval", str(queries), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["queries"] == 2
    assert [(r["label"], r["fusion"], r["rerank"]) for r in body["results"]] == [
        ("image", None, False),
        ("text", None, False),
        ("rrf", "rrf", False),
        ("dbsf", "dbsf", False),
        ("weighted", "weighted", False),
    ]
    assert "total" in body["results"][-1]["latency_ms"]
    table = runner.invoke(app, ["eval", str(queries), "--fusion", "rrf", "--signals", "text"])
    assert table.exit_code == 0, table.output
    assert "recall@1" in table.stdout and "no reranker loaded" in table.stdout
    assert [line.split()[0] for line in table.stdout.splitlines()[2:3]] == ["text"]

"""``mmrag search --diversity / --fair-by`` on a real embedded store with the tiny CLIP."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag_cli.main import app
from rag.config import StoreSettings
from rag.store import CollectionLayout, PointRecord, open_store

from .conftest import COLLECTION, COLORS, Item

runner = CliRunner()


@pytest.fixture
def cli_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: list[Item], tiny_embedder
) -> Path:
    """A user whose embedded collection holds the corpus (4 colours in metadata); no reranker."""
    data = tmp_path / "data"
    store = open_store(StoreSettings(collection=COLLECTION), data)
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
    store.upsert([PointRecord(item.id, item.vectors, item.payload) for item in corpus])
    store.close()
    env = {
        "MMRAG_DATA_DIR": str(data),
        "MMRAG_STORE__COLLECTION": COLLECTION,
        "MMRAG_CLIP__MODEL": "mmrag-tiny",
        "MMRAG_CLIP__PRETRAINED": "",
        "MMRAG_CLIP__THREADS": "1",
        "MMRAG_RERANK__MODEL": "none",
        "MMRAG_PASSAGE__MODEL": "none",
        "MMRAG_LEXICAL__ENABLED": "false",
        "MMRAG_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def _json(*args: str) -> dict:
    result = runner.invoke(app, ["search", "a red thing", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_collapse_by_a_metadata_key_keeps_one_hit_per_value(cli_env: Path) -> None:
    body = _json("--top-k", "10", "--diversity", "collapse:metadata.color")
    colors = [hit["payload"]["metadata"]["color"] for hit in body["hits"]]
    assert sorted(colors) == sorted(COLORS)
    assert sum(hit.get("folded", 0) for hit in body["hits"]) > 0


def test_search_fair_by_equal_gives_each_colour_its_share_and_reports_the_loss(
    cli_env: Path,
) -> None:
    body = _json("--top-k", "8", "--fair-by", "metadata.color", "--fair-target", "equal")
    shares = Counter(hit["payload"]["metadata"]["color"] for hit in body["hits"])
    assert all(abs(shares[color] - 2) <= 1 for color in COLORS)
    assert body["fairness"]["shares"] == dict(shares)
    assert body["fairness"]["fused_loss"] >= 0
    table = runner.invoke(app, ["search", "a red thing", "--fair-by", "metadata.color"])
    assert table.exit_code == 0 and "fair by metadata.color (proportional)" in table.output


def test_search_mmr_and_a_bad_diversity(cli_env: Path) -> None:
    assert len(_json("--top-k", "5", "--diversity", "mmr:0.5")["hits"]) == 5
    result = runner.invoke(app, ["search", "a red thing", "--diversity", "spread"])
    assert result.exit_code != 0
    assert "collapse:<field>" in result.output

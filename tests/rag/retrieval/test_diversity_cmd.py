"""``mmrag search --diversity / --fair-by`` on a real embedded store with the tiny CLIP."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from mmrag_cli.main import app

from .conftest import COLORS

runner = CliRunner()


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

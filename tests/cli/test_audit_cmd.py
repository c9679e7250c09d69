"""``mmrag audit bias`` on the example set, end to end with the tiny CLIP and the real MiniLM,
and ``mmrag audit monitor`` on an ingested collection."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from examples.bias.make_set import write_ingest_folder
from mmrag_cli.main import app

EXAMPLE_SET = Path(__file__).resolve().parents[2] / "examples" / "bias" / "set.jsonl"
WIDE = {"COLUMNS": "200"}


def test_audit_bias_on_the_example_set_prints_every_metric(tiny_env, tmp_path: Path) -> None:
    png = tmp_path / "out" / "bias.png"
    args = ["audit", "bias", "--set", str(EXAMPLE_SET), "--png", str(png)]
    result = CliRunner().invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    for signal in ("image", "text", "passage"):
        assert f"{signal}: zero-shot accuracy" in result.output
        assert f"{signal}: nDCG@5" in result.output
        for group in ("dark", "light"):
            for figure in ("accuracy", "nDCG@5", "exposure", "exposure ratio"):
                assert f"{signal} ({group}): {figure} " in result.output
        for figure in ("accuracy", "ndcg", "exposure_ratio"):
            assert f"{signal}: gap in {figure} " in result.output
    for tower in ("clip", "passage"):
        assert f"WEAT {tower}: flowers vs insects / pleasant vs unpleasant" in result.output
        assert f"WEAT {tower}: male vs female / career vs family" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    as_json = CliRunner().invoke(app, [*args, "--json", "--k", "3"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["models"]["passage"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert report["models"]["clip"].startswith("mmrag-tiny")
    assert {s["signal"]: s["k"] for s in report["signals"]} == {"image": 3, "text": 3, "passage": 3}
    # The real MiniLM tells flowers from insects by pleasantness (WEAT 1), as Caliskan et al.
    passage_weat = {r["name"]: r for r in report["weat"]["passage"]}
    assert passage_weat["flowers vs insects / pleasant vs unpleasant"]["effect_size"] > 0.5
    assert set(report["gaps"]) == {
        f"{s}.{f}"
        for s in ("image", "text", "passage")
        for f in ("accuracy", "ndcg", "exposure_ratio")
    }


def test_audit_bias_refuses_a_collection_audit_without_fields(tiny_env) -> None:
    result = CliRunner().invoke(app, ["audit", "bias"])
    assert result.exit_code == 2
    assert "--group-field and --label-field" in result.output


def test_audit_monitor_adds_a_record_prints_alerts_and_fails_on_them(
    tiny_env, tmp_path: Path, monkeypatch
) -> None:
    write_ingest_folder(tmp_path / "set")
    ingested = CliRunner().invoke(app, ["ingest", str(tmp_path / "set")])
    assert ingested.exit_code == 0, ingested.output
    monkeypatch.setenv("MMRAG_AUDIT__GROUP_FIELD", "background")
    monkeypatch.setenv("MMRAG_AUDIT__LABEL_FIELD", "shape")
    monkeypatch.setenv("MMRAG_AUDIT__GAP_THRESHOLD", "0")
    result = CliRunner().invoke(app, ["audit", "monitor", "--fail-on-alert"])
    assert result.exit_code == 1, result.output  # cron sees the alert
    assert "sampled 24 points, 24 with group and label" in result.output
    assert "ALERT gap: image.exposure_ratio" in result.output
    history = Path(tiny_env["MMRAG_DATA_DIR"]) / "audit" / "monitor-mmrag.jsonl"
    assert len(history.read_text().splitlines()) == 1
    monkeypatch.setenv("MMRAG_AUDIT__GAP_THRESHOLD", "100")
    quiet = CliRunner().invoke(app, ["audit", "monitor", "--fail-on-alert"])
    assert quiet.exit_code == 0 and "ALERT" not in quiet.output

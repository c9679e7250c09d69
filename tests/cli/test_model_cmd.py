"""``mmrag classify``, ``moderate``, ``quality`` and ``finetune`` as users run them."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from mmrag_cli.main import app
from rag.demo.collection import write_sample_collection

runner = CliRunner()


def _picture(tmp_path: Path) -> Path:
    path = tmp_path / "red.png"
    Image.new("RGB", (40, 40), (210, 20, 20)).save(path)
    return path


def test_classify_ranks_the_labels(tiny_env, tmp_path: Path) -> None:
    args = ["classify", str(_picture(tmp_path)), "--labels", "cat, dog,car", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert sorted(s["label"] for s in body["labels"]) == ["car", "cat", "dog"]
    assert abs(sum(s["probability"] for s in body["labels"]) - 1.0) < 1e-5
    plain = runner.invoke(
        app, ["classify", str(_picture(tmp_path)), "--labels", "a,b", "--template", "a {}"]
    )
    assert plain.exit_code == 0 and "(cosine" in plain.stdout


def test_classify_explains_bad_input(tiny_env, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    result = runner.invoke(app, ["classify", str(broken), "--labels", "a,b"])
    assert result.exit_code == 2 and "error:" in result.output
    again = runner.invoke(app, ["classify", str(_picture(tmp_path)), "--labels", "a,a"])
    assert again.exit_code == 2 and "unique" in again.output
    slotless = runner.invoke(
        app, ["classify", str(_picture(tmp_path)), "--labels", "a,b", "--template", "x"]
    )
    assert slotless.exit_code == 2 and "MMRAG_CLASSIFY__TEMPLATES" in slotless.output


def test_moderate_prints_a_verdict(tiny_env, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MMRAG_MODERATION__THRESHOLD", "0.01")
    result = runner.invoke(app, ["moderate", str(_picture(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["is_safe"] is False and verdict["flagged"]
    plain = runner.invoke(app, ["moderate", str(_picture(tmp_path))])
    assert plain.stdout.startswith("UNSAFE") and "flagged:" in plain.stdout


def test_quality_and_finetune_on_an_ingested_collection(tiny_env, tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    write_sample_collection(folder, count=12, size=32)
    assert runner.invoke(app, ["quality"]).exit_code == 2  # nothing ingested yet
    assert runner.invoke(app, ["ingest", str(folder)]).exit_code == 0

    png = tmp_path / "q.png"
    table = runner.invoke(app, ["quality", "--png", str(png)])
    assert table.exit_code == 0, table.output
    assert "paired image-text cosine" in table.stdout and png.is_file()
    report = json.loads(runner.invoke(app, ["quality", "--json"]).stdout)
    assert report["pairs"] == 12 and Path(report["png"]).is_file()

    out = tmp_path / "tuned"
    args = ["finetune", str(out), "--steps", "2", "--batch-size", "4", "--holdout", "4", "--json"]
    tuned = runner.invoke(app, args)
    assert tuned.exit_code == 0, tuned.output
    result = json.loads(tuned.stdout)
    assert (result["train_pairs"], result["held_out_pairs"], result["steps"]) == (8, 4, 2)
    assert (out / "open_clip_model.safetensors").is_file()


def test_finetune_from_a_folder_prints_before_and_after(tiny_env, tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    write_sample_collection(folder, count=10, size=32)
    (folder / "broken.png").write_bytes(b"")
    out = tmp_path / "tuned"
    args = [
        "finetune",
        str(out),
        "--from",
        str(folder),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--accumulation",
        "2",
        "--holdout",
        "0.2",
        "--temperature",
        "0.07",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "t2i@1" in result.stdout and f"MMRAG_CLIP__PRETRAINED={out}" in result.stdout
    assert "trained 1 steps on 8 pairs" in result.stdout

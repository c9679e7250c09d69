"""``mmrag sources add|list|sync|remove`` as a user runs them (no server: the sync runs here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag_cli.main import app


def test_add_sync_list_remove_a_folder_source(
    tiny_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "roots"
    folder = root / "notes"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("alpha", encoding="utf-8")
    (folder / "b.txt").write_text("beta", encoding="utf-8")
    monkeypatch.setenv("MMRAG_INGEST__ROOTS", str(root))
    runner = CliRunner()
    added = runner.invoke(app, ["sources", "add", "notes", "folder", str(folder)])
    assert added.exit_code == 0, added.output
    synced = runner.invoke(app, ["sources", "sync", "notes"])
    assert synced.exit_code == 0, synced.output
    assert "2 written" in synced.output
    (folder / "b.txt").unlink()
    again = runner.invoke(app, ["sources", "sync", "notes"])
    assert "0 written" in again.output and "1 points deleted" in again.output
    listed = json.loads(runner.invoke(app, ["sources", "list", "--json"]).stdout)
    assert listed[0]["config"]["name"] == "notes"
    assert listed[0]["state"]["unchanged"] == 1 and listed[0]["state"]["deleted"] == 1
    assert "notes  folder" in runner.invoke(app, ["sources", "list"]).output
    removed = runner.invoke(app, ["sources", "remove", "notes", "--purge"])
    assert removed.exit_code == 0 and "1 points deleted" in removed.output


def test_bad_sources_are_refused_with_a_reason(tiny_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    outside = runner.invoke(app, ["sources", "add", "x", "folder", str(tmp_path)])
    assert outside.exit_code != 0 and "ingest roots" in outside.output
    bad = runner.invoke(app, ["sources", "add", "y", "s3", "http://nope"])
    assert bad.exit_code != 0 and "s3://bucket/prefix" in bad.output
    missing = runner.invoke(app, ["sources", "sync", "nope"])
    assert missing.exit_code != 0 and "no source 'nope'" in missing.output

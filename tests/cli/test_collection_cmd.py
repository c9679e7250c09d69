"""``mmrag collection defaults set|show|clear``: a collection's own search defaults on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag_cli.main import app
from rag.config import Settings
from rag.retrieval.collection_defaults import DefaultsFile


def _run(*args: str) -> dict:
    result = CliRunner().invoke(app, ["collection", "defaults", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_set_show_and_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMRAG_DATA_DIR", str(tmp_path))
    assert _run("show")["fusion"] is None
    _run("set", "--fusion", "weighted", "--weights", "passage=0.5,lexical=0.25")
    shown = _run("set", "--signals", "passage,lexical", "--collection", "mmrag")  # merges
    assert shown == {
        "collection": "mmrag",
        "fusion": "weighted",
        "weights": {"passage": 0.5, "lexical": 0.25},
        "signals": ["passage", "lexical"],
    }
    settings = Settings(_env_file=None, data_dir=tmp_path)
    read = DefaultsFile(settings.files_dir, settings.store.collection).read()  # what searches use
    assert read.fusion == "weighted" and read.signals == ("passage", "lexical")
    assert _run("show", "--collection", "other")["fusion"] is None  # per collection
    assert _run("clear")["fusion"] is None
    assert _run("show")["weights"] is None


def test_a_bad_value_is_one_line_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMRAG_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["collection", "defaults", "set", "--fusion", "best"])
    assert result.exit_code == 2
    assert "unknown fusion 'best'" in result.output
    nothing = CliRunner().invoke(app, ["collection", "defaults", "set"])
    assert nothing.exit_code == 2 and "--fusion" in nothing.output

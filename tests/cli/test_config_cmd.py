"""``mmrag config`` prints the settings in effect with every secret masked."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mmrag_cli.main import app


def test_llm_api_key_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMRAG_LLM__BASE_URL", "http://gpu-box:8080/v1")
    monkeypatch.setenv("MMRAG_LLM__API_KEY", "sk-very-secret")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    llm = json.loads(result.stdout)["llm"]
    assert llm["api_key"] == "***" and llm["base_url"] == "http://gpu-box:8080/v1"


def test_passage_server_api_key_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMRAG_PASSAGE__BACKEND", "openai")
    monkeypatch.setenv("MMRAG_PASSAGE__API_KEY", "sk-embed-secret")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert "sk-embed-secret" not in result.output
    passage = json.loads(result.stdout)["passage"]
    assert passage["api_key"] == "***" and passage["backend"] == "openai"

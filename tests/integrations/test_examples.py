"""The LangChain examples run offline and print what they promise (extractive backend)."""

from __future__ import annotations

import pytest

from examples import langchain_chain_openai, langchain_qdrant, langchain_retriever


def test_retriever_example(capsys: pytest.CaptureFixture[str]) -> None:
    langchain_retriever.main()
    out = capsys.readouterr().out
    assert "In process, by words:\n  red.png" in out
    assert "Over HTTP, async:\n  green.png" in out
    assert "By picture:\n  yellow.png" in out


def test_chain_example(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["langchain_chain_openai", "--llm", "extractive"])
    langchain_chain_openai.main()
    out = capsys.readouterr().out
    assert 'build_rag_chain:\n  "A red square' in out
    assert "  [1] red.png  http://127.0.0.1:" in out


def test_qdrant_example(capsys: pytest.CaptureFixture[str]) -> None:
    langchain_qdrant.main()
    out = capsys.readouterr().out
    assert "vector_name='text':\n  red" in out

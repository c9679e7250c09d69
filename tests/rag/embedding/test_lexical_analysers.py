"""Words for space-less scripts: janome's with ``MMRAG_LEXICAL__LANGUAGE=japanese``, jieba's with
``chinese``, character bigrams as the fallback when the analyser is absent; searched in embedded
Qdrant Edge."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.runner import ingest_paths
from rag import payload as keys
from rag.config import LexicalSettings, Settings
from rag.embedding.lexical import BM25Encoder, segmenter_for
from rag.embedding.tiny import tiny_clip_settings
from rag.retrieval.types import Query
from rag.services import Services

PASSAGES = [
    ("cat", "猫が窓のそばで眠っている。"),
    ("dog", "犬が庭を走り回っている。"),
    ("rain", "明日は雨が降るでしょう。"),
]
QUESTION = "眠る猫"
""""Sleeping cat": its words are in the cat passage (猫, and 眠る as 眠っ-ている), but none of
its bigrams (眠る, る猫) is: bigrams miss a one-character word and an inflected verb."""
CHINESE = [("cat", "我喜欢猫。"), ("dog", "他养了一只狗。"), ("rain", "明天会下雨。")]
CHINESE_QUESTION = "猫"
""""Cat": a one-character word, never one of the bigrams of the cat passage (我喜 喜欢 欢猫)."""


@pytest.fixture
def without_janome(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import janome.tokenizer`` fails, as where janome is not installed."""
    monkeypatch.setitem(sys.modules, "janome", None)
    monkeypatch.setitem(sys.modules, "janome.tokenizer", None)


def lexical_services(folder: Path, language: str, passages: list[tuple[str, str]]) -> Services:
    folder.mkdir()
    manifest = folder / "texts.jsonl"
    manifest.write_text("\n".join(json.dumps({"id": k, "text": t}) for k, t in passages))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=folder / "data",
        clip=tiny_clip_settings(),
        passage={"model": "none"},
        lexical={"language": language},
        rerank={"model": "none"},
        llm={"backend": "extractive"},
        ocr={"mode": "off"},
    )
    services = Services(settings)
    report = ingest_paths(services, [manifest])
    assert report.written == len(passages) and not report.failures
    return services


def lexical_hits(services: Services, text: str) -> list[str]:
    query = Query(text=text, signals=("lexical",), top_k=3)
    return [str(h.payload[keys.EXTERNAL_ID]) for h in services.retriever.search(query).hits]


@pytest.fixture
def searched(tmp_path: Path) -> Iterator:
    opened: list[Services] = []

    def search(language: str, text: str, passages: list[tuple[str, str]] = PASSAGES) -> list[str]:
        services = lexical_services(tmp_path / f"{language}-{len(opened)}", language, passages)
        opened.append(services)
        return lexical_hits(services, text)

    yield search
    for services in opened:
        services.close()


def test_japanese_words_are_dictionary_forms_without_particles() -> None:
    encoder = BM25Encoder(LexicalSettings(language="japanese"))
    assert encoder.terms("猫が窓のそばで眠っている。") == ["猫", "窓", "そば", "眠る"]
    assert encoder.terms(QUESTION) == ["眠る", "猫"]
    assert encoder.model_id.startswith("bm25-v2/japanese+janome/")


def test_japanese_words_keep_codes_and_other_scripts_as_before() -> None:
    encoder = BM25Encoder(LexicalSettings(language="japanese"))
    assert encoder.terms("東京E-1042エラー") == ["東京", "e-1042", "1042", "エラー"]
    assert encoder.terms("한국어 東京タワー") == ["한국", "국어", "東京", "タワー"]


def test_a_japanese_question_finds_by_words_what_bigrams_miss(searched) -> None:
    assert BM25Encoder(LexicalSettings(language="none")).terms(QUESTION) == ["眠る", "る猫"]
    assert searched("none", QUESTION) == []  # bigrams: no term shared with any passage
    assert searched("japanese", QUESTION)[0] == "cat"


def test_without_janome_japanese_falls_back_to_bigrams(without_janome: None) -> None:
    assert segmenter_for("japanese") is None
    encoder = BM25Encoder(LexicalSettings(language="japanese"))
    assert encoder.model_id.startswith("bm25-v2/japanese+bigrams/")
    assert encoder.terms("窓のそば") == ["窓の", "のそ", "そば"]


def test_the_bigram_fallback_still_searches(without_janome: None, searched) -> None:
    assert searched("japanese", "窓のそば")[0] == "cat"


def test_chinese_words_of_jieba_without_function_words() -> None:
    encoder = BM25Encoder(LexicalSettings(language="chinese"))
    assert encoder.terms("我喜欢猫。") == ["我", "喜欢", "猫"]
    assert encoder.terms("北京的首都 E-1042") == ["北京", "首都", "e-1042", "1042"]
    assert encoder.model_id.startswith("bm25-v2/chinese+jieba/")


def test_a_chinese_question_finds_by_words_what_bigrams_miss(searched) -> None:
    assert searched("none", CHINESE_QUESTION, CHINESE) == []
    assert searched("chinese", CHINESE_QUESTION, CHINESE)[0] == "cat"


def test_without_jieba_chinese_falls_back_to_bigrams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jieba", None)
    encoder = BM25Encoder(LexicalSettings(language="chinese"))
    assert encoder.model_id.startswith("bm25-v2/chinese+bigrams/")
    assert encoder.terms("我喜欢猫") == ["我喜", "喜欢", "欢猫"]

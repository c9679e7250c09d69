"""Evaluation over the text signals on the real stack: ingest a manifest (tiny CLIP, the real
all-MiniLM-L6-v2 passage model, BM25 terms) into embedded Qdrant Edge, then ``evaluate`` every
signal alone and every fusion mode. Lexical must win on exact codes, the passage model on
paraphrases without a shared word, and fusion must match the best single signal on the mix."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ingest.runner import ingest_paths
from rag.config import Settings
from rag.embedding.lexical import BM25Encoder
from rag.embedding.tiny import tiny_clip_settings
from rag.retrieval.evaluate import EvalQuery, EvalRow, evaluate
from rag.services import Services

from .text_sets import CODES, PARAPHRASES

pytestmark = pytest.mark.slow
Entry = tuple[str, str, str]
JAPANESE: list[Entry] = [
    ("ja-search", "検索エンジンは東京タワーの近くにあります。", "検索エンジン"),
    ("ja-cat", "猫はソファで寝ています。", "ソファの猫"),
]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    folder = tmp_path_factory.mktemp("text-signals")
    manifest = folder / "passages.jsonl"
    rows = [{"id": key, "text": text} for key, text, _ in CODES + PARAPHRASES + JAPANESE]
    manifest.write_text("\n".join(json.dumps(row) for row in rows))
    settings = Settings(
        data_dir=folder / "data",
        clip=tiny_clip_settings(),
        rerank={"model": "none"},
        llm={"backend": "extractive"},
    )
    services = Services(settings)
    report = ingest_paths(services, [manifest])
    assert report.written == len(rows) and not report.failures
    yield services
    services.close()


def queries(entries: list[Entry]) -> list[EvalQuery]:
    return [EvalQuery(frozenset({key}), query) for key, _, query in entries]


def by_label(rows: list[EvalRow]) -> dict[str, dict[str, float]]:
    return {row.label: row.metrics for row in rows}


def test_paraphrases_share_no_term_with_any_passage() -> None:
    bm25 = BM25Encoder(Settings().lexical)
    passages = {t for _, text, _ in CODES + PARAPHRASES for t in bm25.terms(text)}
    for _, _, query in PARAPHRASES:
        assert not set(bm25.terms(query)) & passages, query


def test_rows_cover_every_signal_and_fusion_mode_with_latency(services: Services) -> None:
    rows = evaluate(services.retriever, queries(CODES[:2]), rerank=(False,))
    assert [row.label for row in rows] == [
        "image",
        "text",
        "passage",
        "lexical",
        "rrf",
        "dbsf",
        "weighted",
    ]
    fused = rows[-1]
    assert fused.signals == ("image", "text", "passage", "lexical")
    assert {"encode", "total"} <= set(fused.latency_ms)
    assert all(value >= 0 for value in fused.latency_ms.values())
    assert fused.as_dict()["label"] == "weighted"


def test_lexical_wins_on_exact_codes(services: Services) -> None:
    metrics = by_label(evaluate(services.retriever, queries(CODES), rerank=(False,)))
    assert metrics["lexical"]["recall@1"] == 1.0
    assert metrics["lexical"]["mrr"] > metrics["passage"]["mrr"]
    assert metrics["lexical"]["mrr"] > metrics["text"]["mrr"]


def test_passage_wins_on_paraphrases_without_shared_words(services: Services) -> None:
    metrics = by_label(evaluate(services.retriever, queries(PARAPHRASES), rerank=(False,)))
    assert metrics["passage"]["recall@1"] >= 0.9
    assert metrics["lexical"]["recall@10"] == 0.0  # no shared term: nothing to find
    assert metrics["passage"]["mrr"] > metrics["text"]["mrr"]


def test_fusion_is_at_least_as_good_as_the_best_single_signal(services: Services) -> None:
    mixed = queries(CODES + PARAPHRASES)
    rows = evaluate(services.retriever, mixed, rerank=(False,), signals=["passage", "lexical"])
    metrics = by_label(rows)
    best_single = max(metrics["passage"]["mrr"], metrics["lexical"]["mrr"])
    for mode in ("rrf", "dbsf", "weighted"):
        assert metrics[mode]["mrr"] >= best_single, (mode, metrics)
        assert metrics[mode]["recall@5"] >= max(
            metrics["passage"]["recall@5"], metrics["lexical"]["recall@5"]
        )


def test_lexical_finds_japanese_by_character_bigrams(services: Services) -> None:
    metrics = by_label(evaluate(services.retriever, queries(JAPANESE), rerank=(False,)))
    assert metrics["lexical"]["recall@1"] == 1.0

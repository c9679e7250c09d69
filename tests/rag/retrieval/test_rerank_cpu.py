"""Reranking that fits a CPU: int8/bf16 Qwen3 near fp32, the prefix reused, a time budget."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import torch

from rag.config import RerankSettings
from rag.retrieval.rerank import qwen3, rerank_within
from rag.retrieval.rerank.qwen3 import (
    Int8Linear,
    Qwen3Reranker,
    native_bf16,
    native_int8,
    reduced_precision,
)
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Hit, Query, Scores
from rag.testing.tiny_rerankers import build_tiny_qwen3

QUERIES = ["red square with a cat", "a blue circle", "dog photo"]
DOCS = [
    "a red square",
    "a photo of a blue circle with a cat and a dog",
    "dog",
    "the picture shows green and red squares and circles, and a yellow cat with a dog",
    "no",
    "yes",
    "a green thing on the tree",
    "query document instruct",
]


@pytest.fixture(scope="module")
def scaled_qwen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3 whose layers keep signals at scale (std 0.5 / sqrt(fan_in))."""
    folder = tmp_path_factory.mktemp("tiny-qwen3-scaled")
    return build_tiny_qwen3(folder, RerankSettings().instruction, layer_gain=0.5)


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_reduced_qwen3_p_yes_is_within_001_of_fp32(scaled_qwen_folder: Path, precision) -> None:
    fp32 = Qwen3Reranker(scaled_qwen_folder, RerankSettings(quantize="none"))
    fast = Qwen3Reranker(scaled_qwen_folder, RerankSettings(quantize=precision))
    spread = 0.0
    for query in QUERIES:
        reference = fp32.score(query, DOCS)
        assert fast.score(query, DOCS) == pytest.approx(reference, abs=0.01)
        spread = max(spread, max(reference) - min(reference))
    assert spread > 0.05  # the documents do get different scores
    assert fast.precision == precision and fp32.precision == "fp32"
    up_proj = fast._load()[1].model.layers[0].mlp.up_proj
    if precision == "int8":
        assert isinstance(up_proj, Int8Linear)
    else:
        assert up_proj.weight.dtype == torch.bfloat16


def test_int8_that_drifts_beyond_max_drift_keeps_the_float_model(
    qwen_folder: Path, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(qwen3, "MAX_DRIFT", 0.0)  # any drift at all is too much
    fp32 = Qwen3Reranker(qwen_folder, RerankSettings(quantize="none"))
    guarded = Qwen3Reranker(qwen_folder, RerankSettings(quantize="int8"))
    with caplog.at_level(logging.WARNING):
        scores = guarded.score(QUERIES[0], DOCS)
    assert guarded.precision == "fp32" and "stays fp32" in caplog.text
    assert scores == pytest.approx(fp32.score(QUERIES[0], DOCS), abs=1e-6)
    assert not any(isinstance(m, Int8Linear) for m in guarded._load()[1].modules())


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "int_mm"])
@pytest.mark.parametrize("rows", [3, 40])
def test_int8_linear_is_within_1e_3_of_the_float_linear(onednn: bool, rows: int) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 96)
    x = torch.randn(2, rows, 64) * torch.logspace(-2, 2, rows).reshape(1, rows, 1)  # row scales
    int8 = Int8Linear(linear, onednn=onednn)  # False: the portable path (torch._int_mm)
    if onednn and int8.packed is None:
        pytest.skip("this torch build has no oneDNN int8 linear")
    with torch.inference_mode():
        reference, out = linear(x), int8(x)
    error = (out - reference).norm(dim=-1) / reference.norm(dim=-1)
    assert out.shape == reference.shape and out.dtype == torch.float32
    assert error.max() < 1e-3  # one int8 pass each side: ~1e-2


def test_quantize_auto_picks_bf16_on_amx_int8_on_vnni_else_fp32_and_only_on_cpu(
    monkeypatch,
) -> None:
    expected = "bf16" if native_bf16() else "int8" if native_int8() else None
    assert reduced_precision(RerankSettings(), "cpu") == expected
    assert reduced_precision(RerankSettings(), "cuda:0") is None
    assert reduced_precision(RerankSettings(quantize="none"), "cpu") is None
    assert reduced_precision(RerankSettings(quantize="int8"), "cpu") == "int8"
    monkeypatch.setattr(qwen3, "native_bf16", lambda: False)
    monkeypatch.setattr(qwen3, "native_int8", lambda: True)
    assert reduced_precision(RerankSettings(), "cpu") == "int8"
    monkeypatch.setattr(qwen3, "native_int8", lambda: False)
    assert reduced_precision(RerankSettings(), "cpu") is None
    assert reduced_precision(RerankSettings(quantize="int8"), "cpu") == "int8"  # asked for


def test_scoring_a_few_at_a_time_equals_one_call(qwen_folder: Path) -> None:
    reranker = Qwen3Reranker(qwen_folder, RerankSettings(quantize="none", batch_size=4))
    whole = reranker.score(QUERIES[0], DOCS)
    parts = [v for i in range(0, len(DOCS), 3) for v in reranker.score(QUERIES[0], DOCS[i : i + 3])]
    assert parts == pytest.approx(whole, abs=1e-5)


class SlowReranker:
    """Takes ``per_doc_s`` a document; scores by position (later documents score higher)."""

    model_id = "slow"
    top_n = 8

    def __init__(self, per_doc_s: float, budget_s: float | None) -> None:
        self.per_doc_s = per_doc_s
        self.budget_s = budget_s
        self.scored: list[str] = []

    def warm_up(self) -> None:
        pass

    def score(self, query: str, documents: list[str]) -> list[float]:
        time.sleep(self.per_doc_s * len(documents))
        self.scored += documents
        return [len(self.scored) - len(documents) + i for i in range(len(documents))]


def _hits(n: int) -> list[Hit]:
    return [Hit(f"h{i}", {"text": f"doc {i}"}, Scores(None, None, 1.0 - i / 100)) for i in range(n)]


def test_budget_stops_reranking_and_keeps_the_fused_order_for_the_rest() -> None:
    reranker = SlowReranker(per_doc_s=0.05, budget_s=0.25)
    began = time.perf_counter()
    result = rerank_within("q", _hits(8), reranker)
    assert time.perf_counter() - began < 0.25 + 0.15
    assert not result.complete
    done = len(reranker.scored)
    assert 2 <= done < 8
    head, tail = result.hits[:done], result.hits[done:]
    assert [h.id for h in head] == [f"h{i}" for i in reversed(range(done))]  # reordered
    assert all(h.scores.rerank is not None for h in head)
    assert [h.id for h in tail] == [f"h{i}" for i in range(done, 8)]  # fused order
    assert all(h.scores.rerank is None for h in tail)


def test_without_a_budget_every_candidate_is_reranked() -> None:
    result = rerank_within("q", _hits(5), SlowReranker(per_doc_s=0.0, budget_s=None))
    assert result.complete and all(h.scores.rerank is not None for h in result.hits)


def test_search_result_says_when_the_budget_cut_reranking_short(retriever: Retriever) -> None:
    reranker = SlowReranker(per_doc_s=0.05, budget_s=0.12)
    ranked = Retriever(retriever.embedder, retriever.store, retriever.settings, reranker)
    result = ranked.search(Query(text="a red thing", top_k=8))
    assert result.reranked and not result.rerank_complete
    assert any(h.scores.rerank is None and h.text for h in result.hits)
    roomy = SlowReranker(per_doc_s=0.0, budget_s=5.0)
    ranked = Retriever(retriever.embedder, retriever.store, retriever.settings, roomy)
    assert ranked.search(Query(text="a red thing", top_k=8)).rerank_complete

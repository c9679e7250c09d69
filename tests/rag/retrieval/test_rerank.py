"""The reranker stage: ordering rule, Qwen3 scores against the model card, building, retrieval."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from PIL import Image

from rag.config import RerankSettings, RetrievalSettings
from rag.errors import ModelUnavailableError
from rag.retrieval.rerank import build_reranker, rerank_hits, rerank_order
from rag.retrieval.rerank.cross_encoder import CrossEncoderReranker
from rag.retrieval.rerank.qwen3 import PREFIX, SUFFIX, Qwen3Reranker, format_pair
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Hit, Query, Scores

DOCS = [
    "a red square",
    "a photo of a blue circle with a cat and a dog",
    "dog",
    "the picture shows green and red squares and circles, and a yellow cat with a dog",
    "no",
]


def _hit(name: str, text: str | None) -> Hit:
    return Hit(id=name, payload={"text": text}, scores=Scores(image=None, text=None, fused=1.0))


def test_rerank_order_keeps_textless_hits_in_place() -> None:
    hits = [_hit("a", "x"), _hit("b", None), _hit("c", "y"), _hit("d", "z")]
    ordered = rerank_order(hits, [0.1, None, 0.9, 0.5])
    assert [h.id for h in ordered] == ["c", "b", "d", "a"]
    assert [h.scores.rerank for h in ordered] == [0.9, None, 0.5, 0.1]


def test_rerank_order_breaks_ties_by_fused_position() -> None:
    hits = [_hit(name, "t") for name in "abc"]
    assert [h.id for h in rerank_order(hits, [0.5, 0.7, 0.5])] == ["b", "a", "c"]


class KeywordReranker:
    """Scores by the share of query words in the document; records what it was asked."""

    model_id = "keyword"
    top_n = 4
    budget_s: float | None = None

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def warm_up(self) -> None:
        pass

    def score(self, query: str, documents: list[str]) -> list[float]:
        self.calls.append(list(documents))
        words = set(query.split())
        return [len(words & set(doc.split())) / len(words) for doc in documents]


def test_rerank_hits_reads_chunk_text_and_skips_empty_texts() -> None:
    hits = [
        Hit("a", {"text": "full", "chunk_text": "red cat"}, Scores(None, None, 1.0)),
        Hit("b", {"text": "   "}, Scores(None, None, 0.9)),
        Hit("c", {"text": "red"}, Scores(None, None, 0.8)),
    ]
    reranker = KeywordReranker()
    ordered = rerank_hits("red cat", hits, reranker)
    assert reranker.calls == [["red cat", "red"]]
    assert [h.id for h in ordered] == ["a", "b", "c"]
    assert [h.scores.rerank for h in ordered] == [1.0, None, 0.5]


# --- Qwen3 against the model card ---------------------------------------------------------------


def model_card_scores(folder: Path, settings: RerankSettings, query: str, docs: list[str]):
    """The model card's code: left padding, full logits at the last position, log_softmax."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    prefix_tokens = tokenizer.encode(PREFIX, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(SUFFIX, add_special_tokens=False)
    pairs = [format_pair(settings.instruction, query, doc) for doc in docs]
    inputs = tokenizer(
        pairs,
        padding=False,
        truncation="longest_first",
        return_attention_mask=False,
        max_length=settings.max_length - len(prefix_tokens) - len(suffix_tokens),
    )
    for i, ids in enumerate(inputs["input_ids"]):
        inputs["input_ids"][i] = prefix_tokens + ids + suffix_tokens
    inputs = tokenizer.pad(inputs, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1, :]
    true_vector = logits[:, tokenizer.convert_tokens_to_ids("yes")]
    false_vector = logits[:, tokenizer.convert_tokens_to_ids("no")]
    scores = torch.nn.functional.log_softmax(torch.stack([false_vector, true_vector], dim=1), 1)
    return scores[:, 1].exp().tolist()


@pytest.mark.parametrize("share_prefix", [True, False])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_qwen3_scores_equal_the_model_card(
    qwen_folder: Path, share_prefix: bool, batch_size: int
) -> None:
    settings = RerankSettings(max_length=512, batch_size=batch_size, quantize="none")
    reranker = Qwen3Reranker(qwen_folder, settings, share_prefix=share_prefix)
    scores = reranker.score("red square with a cat", DOCS)
    expected = model_card_scores(qwen_folder, settings, "red square with a cat", DOCS)
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(set(round(s, 4) for s in scores)) > 1  # the tiny model does tell documents apart


def test_qwen3_truncates_long_documents_to_max_length(qwen_folder: Path) -> None:
    settings = RerankSettings(max_length=80, quantize="none")
    reranker = Qwen3Reranker(qwen_folder, settings)
    docs = ["cat " * 200, "dog"]
    sequences = reranker.tokenize("red", docs)
    assert len(sequences[0]) == 80
    suffix = reranker._load()[0].encode(SUFFIX, add_special_tokens=False)
    assert sequences[0][-len(suffix) :] == suffix
    expected = model_card_scores(qwen_folder, settings, "red", docs)
    assert reranker.score("red", docs) == pytest.approx(expected, abs=1e-5)


# --- building -----------------------------------------------------------------------------------


def test_build_reranker_is_off_for_none_and_top_n_zero(tmp_path: Path) -> None:
    assert build_reranker(RerankSettings(model="none"), tmp_path) is None
    assert build_reranker(RerankSettings(top_n=0, device="cpu"), tmp_path) is None
    assert build_reranker(RerankSettings(top_n_gpu=0, device="cuda"), tmp_path) is None


def test_missing_weights_warn_once_and_return_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = RerankSettings(model="nobody/missing-reranker", device="cpu")
    with caplog.at_level(logging.WARNING):
        assert build_reranker(settings, tmp_path) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "MMRAG_RERANK__MODEL" in warnings[0].getMessage()


@pytest.mark.parametrize("model", ["nobody/missing-reranker", "./no/such/folder"])
def test_required_reranker_raises_with_what_to_do(tmp_path: Path, model: str) -> None:
    settings = RerankSettings(model=model, device="cpu", required=True)
    with pytest.raises(ModelUnavailableError, match=r"MMRAG_RERANK__MODEL.*local folder"):
        build_reranker(settings, tmp_path)


def test_folder_without_config_is_unavailable(tmp_path: Path) -> None:
    settings = RerankSettings(model=str(tmp_path), device="cpu", required=True)
    with pytest.raises(ModelUnavailableError, match=r"config\.json"):
        build_reranker(settings, tmp_path)


def test_build_reranker_from_a_folder_sizes_top_n_per_device(qwen_folder: Path) -> None:
    settings = RerankSettings(model=str(qwen_folder), top_n=3, top_n_gpu=30, device="cpu")
    reranker = build_reranker(settings, qwen_folder)
    assert isinstance(reranker, Qwen3Reranker)
    assert reranker.top_n == 3
    assert reranker.model_id == str(qwen_folder)


def test_cross_encoder_scores_are_sigmoids_of_its_logits(cross_encoder_folder: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    settings = RerankSettings(model=f"cross-encoder:{cross_encoder_folder}", device="cpu")
    reranker = build_reranker(settings, cross_encoder_folder)
    assert isinstance(reranker, CrossEncoderReranker)
    docs = ["a red square", "blue circle cat", "dog"]
    tokenizer = AutoTokenizer.from_pretrained(cross_encoder_folder)
    model = AutoModelForSequenceClassification.from_pretrained(cross_encoder_folder).eval()
    encoded = tokenizer(["red square"] * 3, docs, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = torch.sigmoid(model(**encoded).logits[:, 0]).tolist()
    assert reranker.score("red square", docs) == pytest.approx(expected, abs=1e-5)


# --- in the retriever ---------------------------------------------------------------------------


def test_retriever_reranks_the_top_n_with_qwen3(retriever: Retriever, qwen_folder: Path) -> None:
    reranker = Qwen3Reranker(qwen_folder, RerankSettings(batch_size=4, quantize="none"), top_n=6)
    ranked = Retriever(retriever.embedder, retriever.store, retriever.settings, reranker)
    query = Query(text="a red thing", fusion="rrf", top_k=10)
    fused = retriever.search(query).hits
    result = ranked.search(query)
    assert result.reranked and "rerank" in result.timings
    head, tail = result.hits[:6], result.hits[6:]
    assert {h.id for h in head} == {h.id for h in fused[:6]}
    assert [h.id for h in tail] == [h.id for h in fused[6:10]]
    assert all(h.scores.rerank is None for h in tail)
    for place, hit in enumerate(head):  # textless hits keep their fused place
        if not hit.text:
            assert hit.scores.rerank is None and fused[place].id == hit.id
    scored = [h.scores.rerank for h in head if h.scores.rerank is not None]
    assert scored == sorted(scored, reverse=True)
    texts = [h.text for h in head if h.text]
    assert scored == pytest.approx(reranker.score("a red thing", texts), abs=1e-6)


def test_rerank_is_skipped_when_off_or_without_query_text(retriever: Retriever) -> None:
    reranker = KeywordReranker()
    ranked = Retriever(retriever.embedder, retriever.store, retriever.settings, reranker)
    assert not ranked.search(Query(text="red", rerank=False)).reranked
    picture = Query(image=Image.new("RGB", (32, 32), (1, 2, 3)), rerank=True)
    assert not ranked.search(picture).reranked
    assert reranker.calls == []
    assert ranked.search(Query(text="red")).reranked


def test_rerank_n_larger_than_top_k_widens_the_candidates(retriever: Retriever) -> None:
    reranker = KeywordReranker()
    settings = RetrievalSettings(prefetch_limit=12)
    ranked = Retriever(retriever.embedder, retriever.store, settings, reranker)
    result = ranked.search(Query(text="number 7", top_k=2))
    assert len(result.hits) == 2
    assert len(reranker.calls[0]) <= reranker.top_n and len(reranker.calls[0]) > 2

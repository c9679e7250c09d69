"""Retrieval over four signals (image, text, passage, lexical) on both engines against a longhand
reference: every fusion mode, weights, chosen signals, every hit's per-signal scores, and clear
errors for signals the setup lacks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.config import RetrievalSettings, StoreSettings
from rag.embedding.base import Embedder, SparseTerms
from rag.errors import InvalidInputError
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Hit, Query, Scores
from rag.store import CollectionLayout, PointRecord, VectorStore, open_store

from .conftest import Item, make_corpus
from .signal_encoders import PASSAGE_DIM, BagOfWordsPassageEncoder, WordCountLexicalEncoder

SIGNALS = ("image", "text", "passage", "lexical")
PASSAGE = BagOfWordsPassageEncoder()
LEXICAL = WordCountLexicalEncoder()
LIMIT = 12


def with_text_signals(items: list[Item]) -> list[Item]:
    """The corpus with passage vectors (every item with text but each 5th) and lexical terms
    (every item with text but each 4th)."""
    out = []
    for n, item in enumerate(items):
        vectors = dict(item.vectors)
        text = item.payload.get("text")
        if isinstance(text, str) and n % 5 != 3:
            vectors["passage"] = PASSAGE.encode_documents([text])[0]
        if isinstance(text, str) and n % 4 != 1:
            vectors["lexical"] = LEXICAL.encode_documents([text])[0]  # type: ignore[assignment]
        out.append(Item(item.id, item.external_id, vectors, item.payload))
    return out


@pytest.fixture(scope="module")
def signal_corpus(tiny_embedder: Embedder) -> list[Item]:
    return with_text_signals(make_corpus(tiny_embedder.dim))


@pytest.fixture
def signal_store(
    store_settings: StoreSettings,
    tmp_path: Path,
    signal_corpus: list[Item],
    tiny_embedder: Embedder,
) -> Iterator[VectorStore]:
    store = open_store(store_settings, tmp_path / "data", "signals")
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim, PASSAGE_DIM, lexical=True))
    store.upsert([PointRecord(i.id, i.vectors, i.payload) for i in signal_corpus])
    yield store
    store.close()


@pytest.fixture
def retriever(signal_store: VectorStore, tiny_embedder: Embedder) -> Retriever:
    settings = RetrievalSettings(prefetch_limit=LIMIT, top_k=10)
    return Retriever(
        tiny_embedder, signal_store, settings, passage_encoder=PASSAGE, lexical_encoder=LEXICAL
    )


# --- the reference, written out ------------------------------------------------------------------


def bm25(items: list[Item], query: SparseTerms) -> dict[str, float]:
    """Qdrant's IDF-modified sparse score of every item that has terms (0: none shared)."""
    docs = {i.id: i.vectors["lexical"] for i in items if "lexical" in i.vectors}
    scores = dict.fromkeys(docs, 0.0)
    for term, weight in zip(query.indices, query.values, strict=True):
        holders = [pid for pid, t in docs.items() if term in t.indices]  # type: ignore[union-attr]
        idf = math.log(1 + (len(docs) - len(holders) + 0.5) / (len(holders) + 0.5))
        for pid in holders:
            terms = docs[pid]
            scores[pid] += weight * terms.values[terms.indices.index(term)] * idf  # type: ignore[union-attr]
    return scores


def signal_scores(items: list[Item], queries: dict[str, object]) -> dict[str, dict[str, float]]:
    """signal -> item id -> score, for the items that have the vector."""
    out: dict[str, dict[str, float]] = {}
    for name in ("image", "text", "passage"):
        q = np.asarray(queries[name], dtype=np.float64)
        out[name] = {
            i.id: float(np.asarray(i.vectors[name], dtype=np.float64) @ q)
            for i in items
            if name in i.vectors
        }
    out["lexical"] = bm25(items, queries["lexical"])  # type: ignore[arg-type]
    return out


def reference(
    items: list[Item], queries: dict[str, object], mode: str, weights: dict[str, float], k: int
) -> list[tuple[str, float]]:
    scores = signal_scores(items, queries)
    lists = {
        name: sorted(
            ((pid, s) for pid, s in scores[name].items() if name != "lexical" or s > 0),
            key=lambda pair: -pair[1],
        )[:LIMIT]
        for name in SIGNALS
    }
    searched = [n for n in SIGNALS if mode == "dbsf" or weights[n] > 0]
    fused: dict[str, float] = {}
    if mode == "rrf":
        mean = sum(weights[n] for n in searched) / len(searched)
        for name in searched:
            w = weights[name] / mean
            for pos, (pid, _) in enumerate(lists[name]):
                fused[pid] = fused.get(pid, 0.0) + 1 / ((pos + 1) / w + k - 1)
    elif mode == "dbsf":
        for name in searched:
            values = np.array([s for _, s in lists[name]])
            lo = values.mean() - 3 * values.std(ddof=1)
            hi = values.mean() + 3 * values.std(ddof=1)
            for pid, s in lists[name]:
                fused[pid] = fused.get(pid, 0.0) + (s - lo) / (hi - lo)
    else:
        best = lists["lexical"][0][1]
        for pid in {pid for name in searched for pid, _ in lists[name]}:
            have = [n for n in searched if pid in scores[n]]
            total = sum(weights[n] for n in have)
            value = sum(
                weights[n] * scores[n][pid] / (best if n == "lexical" else 1.0) for n in have
            )
            fused[pid] = value / total
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def query_vectors(retriever: Retriever, text: str) -> dict[str, object]:
    return retriever.embed_signals(Query(text=text), SIGNALS)  # type: ignore[arg-type]


def assert_scores_match(hits: list[Hit], items: list[Item], queries: dict[str, object]) -> None:
    scores = signal_scores(items, queries)
    for hit in hits:
        for name in SIGNALS:
            got = getattr(hit.scores, name)
            if hit.id in scores[name]:
                assert got == pytest.approx(scores[name][hit.id], rel=1e-4, abs=1e-5), name
            else:
                assert got is None, name


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["rrf", "dbsf", "weighted"])
@pytest.mark.parametrize("text", ["a red thing", "number 7"])
def test_four_signal_fusion_matches_reference(
    retriever: Retriever, signal_corpus: list[Item], mode: str, text: str
) -> None:
    queries = query_vectors(retriever, text)
    weights = dict.fromkeys(SIGNALS, 0.5)
    expected = reference(signal_corpus, queries, mode, weights, retriever.settings.rrf_k)
    result = retriever.search(Query(text=text, fusion=mode, top_k=10))  # type: ignore[arg-type]
    assert [h.id for h in result.hits] == [pid for pid, _ in expected[:10]]
    for hit, (_, score) in zip(result.hits, expected, strict=False):
        assert hit.scores.fused == pytest.approx(score, rel=1e-4, abs=1e-6)
    assert_scores_match(result.hits, signal_corpus, queries)


@pytest.mark.parametrize("mode", ["rrf", "weighted"])
def test_weights_per_signal_match_reference(
    retriever: Retriever, signal_corpus: list[Item], mode: str
) -> None:
    weights = {"image": 0.1, "text": 0.2, "passage": 1.0, "lexical": 2.0}
    queries = query_vectors(retriever, "a blue thing number 12")
    expected = reference(signal_corpus, queries, mode, weights, retriever.settings.rrf_k)
    query = Query(text="a blue thing number 12", fusion=mode, weights=weights, top_k=8)  # type: ignore[arg-type]
    result = retriever.search(query)
    assert [h.id for h in result.hits] == [pid for pid, _ in expected[:8]]
    for hit, (_, score) in zip(result.hits, expected, strict=False):
        assert hit.scores.fused == pytest.approx(score, rel=1e-4, abs=1e-6)


def test_chosen_signals_only(retriever: Retriever, signal_corpus: list[Item]) -> None:
    query = Query(text="a green thing", signals=("passage", "lexical"), fusion="rrf")
    result = retriever.search(query)
    assert result.hits
    for hit in result.hits:
        assert hit.scores.image is None and hit.scores.text is None
        assert hit.scores.passage is not None or hit.scores.lexical is not None
    weights = {"passage": 0.5, "lexical": 0.5, "image": 0.0, "text": 0.0}
    queries = query_vectors(retriever, "a green thing")
    expected = reference(signal_corpus, queries, "rrf", weights, retriever.settings.rrf_k)
    assert [h.id for h in result.hits] == [pid for pid, _ in expected[:10]]


def test_lexical_alone_ranks_by_bm25(retriever: Retriever, signal_corpus: list[Item]) -> None:
    result = retriever.search(Query(text="number 7", signals=("lexical",), fusion="weighted"))
    scores = bm25(signal_corpus, LEXICAL.encode_queries(["number 7"])[0])
    best = max(scores.values())
    top = sorted(((s, pid) for pid, s in scores.items() if s > 0), key=lambda p: (-p[0], p[1]))
    assert [h.id for h in result.hits] == [pid for _, pid in top[:10]]
    assert result.hits[0].scores.fused == pytest.approx(1.0)
    assert result.hits[0].scores.lexical == pytest.approx(best, rel=1e-4)


def test_an_image_query_searches_the_picture_signals(retriever: Retriever) -> None:
    image = Image.new("RGB", (32, 32), (200, 20, 20))
    hits = retriever.search(Query(image=image, fusion="rrf", top_k=5)).hits
    assert hits and all(h.scores.passage is None and h.scores.lexical is None for h in hits)
    with pytest.raises(InvalidInputError, match="give the query text"):
        retriever.search(Query(image=image, signals=("lexical",)))


@pytest.mark.parametrize(
    ("signals", "passage", "lexical", "message"),
    [
        (("passage",), None, LEXICAL, "MMRAG_PASSAGE__MODEL"),
        (("lexical",), PASSAGE, None, "MMRAG_LEXICAL__ENABLED"),
        (("audio",), PASSAGE, LEXICAL, "image, text, passage, lexical"),
        ((), PASSAGE, LEXICAL, "at least one signal"),
    ],
)
def test_signals_the_setup_lacks_say_what_to_set(
    signal_store: VectorStore,
    tiny_embedder: Embedder,
    signals: tuple[str, ...],
    passage: object,
    lexical: object,
    message: str,
) -> None:
    retriever = Retriever(
        tiny_embedder,
        signal_store,
        RetrievalSettings(),
        passage_encoder=passage,  # type: ignore[arg-type]
        lexical_encoder=lexical,  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidInputError, match=message):
        retriever.search(Query(text="red", signals=signals))  # type: ignore[arg-type]
    # without a choice, the search uses what there is
    assert retriever.search(Query(text="red")).hits


def test_a_collection_without_the_vectors_says_how_to_fill_them(
    store_settings: StoreSettings, tmp_path: Path, tiny_embedder: Embedder
) -> None:
    store = open_store(store_settings, tmp_path / "data", "old")
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
    retriever = Retriever(
        tiny_embedder,
        store,
        RetrievalSettings(),
        passage_encoder=PASSAGE,
        lexical_encoder=LEXICAL,
    )
    with pytest.raises(InvalidInputError, match=r"no passage vectors.*--policy overwrite"):
        retriever.search(Query(text="red", signals=("passage",)))
    store.close()


def test_passage_text_prefers_the_chunk() -> None:
    scores = Scores(image=None, text=None, fused=1.0)
    chunk = Hit("a", {"text": "the whole caption", "chunk_text": " the passage "}, scores)
    assert chunk.passage_text == "the passage"
    assert Hit("b", {"text": "caption"}, scores).passage_text == "caption"
    assert Hit("c", {}, scores).passage_text == ""
    assert set(scores.as_dict()) == {"image", "text", "passage", "lexical", "fused", "rerank"}

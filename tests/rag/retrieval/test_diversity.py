"""Diversity (mmr, collapse) and fair exposure through the retriever on both engines, and the
pure functions against hand-made rankings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.config import RetrievalSettings, StoreSettings
from rag.embedding.base import Embedder
from rag.errors import InvalidInputError
from rag.identity import point_id
from rag.retrieval.diversity import collapse, diversify, mmr, parse_diversity, pool_size
from rag.retrieval.fairness import fair_top_k
from rag.retrieval.plan import SearchPlan
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Diversity, FairExposure, Hit, Query, Scores
from rag.store import CollectionLayout, PointRecord, VectorStore, open_store

QUERY = "a red square"


def _orthonormal(first: np.ndarray, count: int, seed: int = 3) -> np.ndarray:
    """``first`` (unit) and ``count - 1`` more unit vectors orthogonal to it and each other."""
    rng = np.random.default_rng(seed)
    basis = np.column_stack([first, rng.standard_normal((len(first), count - 1))])
    q, _ = np.linalg.qr(basis)
    q[:, 0] *= np.sign(q[:, 0] @ first)
    return q.T


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _point(name: str, vector: np.ndarray, **payload: object) -> PointRecord:
    return PointRecord(point_id("diversity", name), {"image": vector}, {"source": name, **payload})


@pytest.fixture
def store(store_settings: StoreSettings, tmp_path: Path, tiny_embedder: Embedder) -> Iterator:
    store = open_store(store_settings, tmp_path / "data", "diversity")
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
    yield store
    store.close()


def _retriever(store: VectorStore, embedder: Embedder) -> Retriever:
    return Retriever(embedder, store, RetrievalSettings(prefetch_limit=20, top_k=5))


def _pictures(store: VectorStore, embedder: Embedder, copies: int = 5) -> tuple[set[str], set[str]]:
    """``copies`` near-identical pictures (cosine ~0.7 to the query, ~0.99 to each other) and 5
    distinct ones (~0.67 to the query, ~0.45 to each other and ~0.48 to the near-identical
    ones)."""
    retriever = _retriever(store, embedder)
    q = retriever.embed_query(Query(text=QUERY)).astype(np.float64)
    basis = _orthonormal(q, 7)
    rng = np.random.default_rng(5)
    same = [_unit(q + basis[1] + 0.02 * rng.standard_normal(len(q))) for _ in range(copies)]
    distinct = [_unit(q + 1.1 * basis[2 + i]) for i in range(5)]
    points = [_point(f"same-{i}.png", v) for i, v in enumerate(same)]
    points += [_point(f"other-{i}.png", v) for i, v in enumerate(distinct)]
    store.upsert(points)
    return {p.id for p in points[:copies]}, {p.id for p in points[copies:]}


def _search(retriever: Retriever, **options: object) -> list[Hit]:
    query = Query(text=QUERY, signals=("image",), fusion="weighted", top_k=5, **options)  # type: ignore[arg-type]
    return retriever.search(query).hits


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_mmr_at_half_keeps_at_most_two_near_identical_pictures_in_the_top_5(
    store: VectorStore, tiny_embedder: Embedder, fusion: str
) -> None:
    same, _ = _pictures(store, tiny_embedder)
    retriever = _retriever(store, tiny_embedder)
    query = Query(
        text=QUERY, signals=("image",), fusion=fusion, top_k=5, diversity=Diversity("mmr", 0.5)
    )  # type: ignore[arg-type]
    result = retriever.search(query)
    assert len(result.hits) == 5
    assert sum(hit.id in same for hit in result.hits) <= 2
    assert "diversify" in result.timings


def test_mmr_reaches_past_ten_near_identical_pictures_filling_the_top_of_a_top_5(
    store: VectorStore, tiny_embedder: Embedder
) -> None:
    same, distinct = _pictures(store, tiny_embedder, copies=10)
    retriever = Retriever(tiny_embedder, store, RetrievalSettings(top_k=5))
    plain = _search(retriever)
    spread = _search(retriever, diversity=Diversity("mmr", 0.5))
    assert {hit.id for hit in plain} <= same  # the copies fill the plain top 5
    assert sum(hit.id in same for hit in spread) <= 2
    assert sum(hit.id in distinct for hit in spread) >= 3


@pytest.mark.parametrize(
    ("top_k", "rerank_n", "prefetch", "mode", "pool"),
    [
        (5, 0, 50, "mmr", 20),  # at least MMR_POOL_MIN
        (10, 0, 50, "mmr", 20),
        (10, 15, 50, "mmr", 30),  # twice the candidates the reranker reads
        (40, 0, 50, "mmr", 50),  # never past the prefetch limit
        (5, 0, 12, "mmr", 12),
        (5, 0, 50, "collapse", 50),
    ],
)
def test_pool_size_is_twice_the_candidates_within_a_floor_for_mmr_and_the_prefetch_limit_else(
    top_k: int, rerank_n: int, prefetch: int, mode: str, pool: int
) -> None:
    plan = SearchPlan("rrf", {"image": 1.0}, top_k, rerank_n, prefetch, ("image",))
    assert pool_size(plan, Diversity(mode)) == pool  # type: ignore[arg-type]


@pytest.mark.parametrize("fusion", ["dbsf", "weighted"])
def test_mmr_hits_carry_the_signal_scores_of_the_plain_search(
    store: VectorStore, tiny_embedder: Embedder, fusion: str
) -> None:
    rng = np.random.default_rng(11)
    points = []
    for i in range(30):
        vectors = {"image": _unit(rng.standard_normal(tiny_embedder.dim))}
        if i % 3:  # every third point has no text vector
            vectors["text"] = _unit(rng.standard_normal(tiny_embedder.dim))
        points.append(PointRecord(point_id("scores", str(i)), vectors, {"source": str(i)}))
    store.upsert(points)
    retriever = _retriever(store, tiny_embedder)
    query = Query(text=QUERY, signals=("image", "text"), fusion=fusion, top_k=15)  # type: ignore[arg-type]
    plain = retriever.search(query).hits
    spread = retriever.search(Query(**{**query.__dict__, "diversity": Diversity("mmr", 1.0)})).hits
    assert [hit.id for hit in spread] == [hit.id for hit in plain]
    for mine, theirs in zip(spread, plain, strict=True):
        assert mine.scores.fused == pytest.approx(theirs.scores.fused, rel=1e-6)
        for name in ("image", "text"):
            got, wanted = getattr(mine.scores, name), getattr(theirs.scores, name)
            assert (got is None) == (wanted is None)
            assert got == pytest.approx(wanted, abs=1e-6)
    assert any(hit.scores.text is None for hit in spread)


def test_mmr_at_one_keeps_the_plain_ranking_with_all_5_near_identical(
    store: VectorStore, tiny_embedder: Embedder
) -> None:
    same, _ = _pictures(store, tiny_embedder)
    retriever = _retriever(store, tiny_embedder)
    plain = _search(retriever)
    spread = _search(retriever, diversity=Diversity("mmr", 1.0))
    assert {hit.id for hit in spread} == same
    assert [hit.id for hit in spread] == [hit.id for hit in plain]


def test_collapse_by_document_returns_one_hit_per_document_with_its_fold_count(
    store: VectorStore, tiny_embedder: Embedder
) -> None:
    retriever = _retriever(store, tiny_embedder)
    q = retriever.embed_query(Query(text=QUERY)).astype(np.float64)
    basis = _orthonormal(q, 12)
    pages = {"doc-a": 4, "doc-b": 3, "doc-c": 1}
    points, n = [], 1
    for doc, count in pages.items():
        for page in range(1, count + 1):
            vector = _unit(q + 0.3 * n * basis[n])
            points.append(_point(f"{doc}-{page}", vector, document={"id": doc}, page=page))
            n += 1
    points += [_point(f"loose-{i}.png", _unit(q + 0.5 * basis[n + i])) for i in range(2)]
    store.upsert(points)
    query = Query(text=QUERY, signals=("image",), fusion="weighted", top_k=10)
    plain = retriever.search(query).hits
    hits = retriever.search(
        Query(**{**query.__dict__, "diversity": Diversity("collapse", field="document")})
    ).hits
    documents = [hit.payload.get("document", {}).get("id") for hit in hits]
    assert sorted(d for d in documents if d) == ["doc-a", "doc-b", "doc-c"]
    assert documents.count(None) == 2  # pictures outside any document are each kept
    folded = {
        hit.payload["document"]["id"]: hit.folded for hit in hits if "document" in hit.payload
    }
    assert folded == {"doc-a": 3, "doc-b": 2, "doc-c": 0}
    best = {}
    for hit in plain:
        best.setdefault(hit.payload.get("document", {}).get("id", hit.id), hit.id)
    assert [hit.id for hit in hits] == list(best.values())


@pytest.mark.parametrize(("target", "expected"), [("proportional", None), ("equal", 2.0)])
def test_fair_exposure_on_a_labelled_set_meets_target_shares_within_one_item(
    store: VectorStore, tiny_embedder: Embedder, target: str, expected: float | None
) -> None:
    retriever = _retriever(store, tiny_embedder)
    q = retriever.embed_query(Query(text=QUERY)).astype(np.float64)
    basis = _orthonormal(q, 13)
    groups = ["a"] * 6 + ["b"] * 4 + ["c"] * 2  # group a ranks highest, c lowest
    store.upsert(
        [
            _point(f"item-{i}", _unit(q + (0.2 + 0.1 * i) * basis[i + 1]), metadata={"group": g})
            for i, g in enumerate(groups)
        ]
    )
    fair = FairExposure("metadata.group", target)  # type: ignore[arg-type]
    query = Query(text=QUERY, signals=("image",), fusion="weighted", top_k=6)
    plain = retriever.search(query)
    result = retriever.search(Query(**{**query.__dict__, "fair": fair}))
    shares = Counter(hit.payload["metadata"]["group"] for hit in result.hits)
    assert [h.payload["metadata"]["group"] for h in plain.hits] == ["a"] * 6
    for group, size in Counter(groups).items():
        wanted = expected if expected is not None else 6 * size / len(groups)
        assert abs(shares[group] - wanted) <= 1
        assert result.fairness is not None
        assert result.fairness.targets[group] == pytest.approx(wanted)
    assert result.fairness is not None
    assert dict(shares) == result.fairness.shares
    lost = sum(h.scores.fused for h in plain.hits) - sum(h.scores.fused for h in result.hits)
    assert result.fairness.fused_loss == pytest.approx(lost) and lost > 0


def test_options_are_checked_before_the_search_with_errors_that_say_what_to_fix(
    store: VectorStore, tiny_embedder: Embedder
) -> None:
    retriever = _retriever(store, tiny_embedder)
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        _search(retriever, diversity=Diversity("mmr", 1.5))
    with pytest.raises(InvalidInputError, match="payload field"):
        _search(retriever, diversity=Diversity("collapse", field="metadata."))
    with pytest.raises(InvalidInputError, match="proportional, equal"):
        _search(retriever, fair=FairExposure("metadata.group", "most"))  # type: ignore[arg-type]
    lexical_only = SearchPlan("rrf", {"lexical": 1.0}, 5, 0, 20, ("lexical",))
    with pytest.raises(InvalidInputError, match="search a dense signal"):
        diversify(store, lexical_only, Diversity("mmr"), [])


# --- the pure functions ---------------------------------------------------------------------


def _hit(name: str, fused: float, **payload: object) -> Hit:
    return Hit(name, dict(payload), Scores(None, None, fused))


def test_parse_diversity_reads_the_short_forms_and_lists_them_on_error() -> None:
    assert parse_diversity("mmr") == Diversity("mmr", 0.5)
    assert parse_diversity("mmr:0.8") == Diversity("mmr", 0.8)
    assert parse_diversity("collapse") == Diversity("collapse", field="document")
    assert parse_diversity("collapse:metadata.camera").field == "metadata.camera"
    with pytest.raises(InvalidInputError, match=r"mmr:0\.5"):
        parse_diversity("mmr:high")
    with pytest.raises(InvalidInputError, match="collapse:<field>"):
        parse_diversity("spread")


def test_collapse_reads_page_duplicate_and_bare_metadata_keys() -> None:
    hits = [
        _hit("p1", 0.9, document={"id": "d"}, page=1),
        _hit("p1b", 0.8, document={"id": "d"}, page=1),
        _hit("p2", 0.7, document={"id": "d"}, page=2),
    ]
    assert [(h.id, h.folded) for h in collapse(hits, "page")] == [("p1", 1), ("p2", 0)]
    copies = [_hit("orig", 0.9), _hit("copy", 0.8, duplicate_of="orig"), _hit("x", 0.1)]
    assert [(h.id, h.folded) for h in collapse(copies, "duplicate")] == [("orig", 1), ("x", 0)]
    cams = [_hit("a", 0.9, metadata={"camera": "x"}), _hit("b", 0.5, metadata={"camera": "x"})]
    assert [(h.id, h.folded) for h in collapse(cams, "camera")] == [("a", 1)]


def test_mmr_without_shared_vectors_keeps_the_fused_order() -> None:
    hits = [_hit(str(i), 1.0 - i / 10) for i in range(5)]
    vectors = {"0": {"image": np.ones(4, np.float32)}}
    assert mmr(hits, vectors, {"image": 1.0}, 0.5, 3) == hits


@pytest.mark.parametrize("seed", range(20))
def test_fair_top_k_counts_stay_within_one_item_of_the_targets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(20, 60)), int(rng.integers(3, 15))
    labels = rng.choice(["a", "b", "c", "d"], size=n, p=[0.55, 0.25, 0.15, 0.05])
    hits = [_hit(str(i), 1.0 - i / n, metadata={"g": str(g)}) for i, g in enumerate(labels)]
    for target in ("proportional", "equal"):
        ordered, report = fair_top_k(hits, k, FairExposure("g", target))  # type: ignore[arg-type]
        assert sorted(h.id for h in ordered) == sorted(h.id for h in hits)
        sizes = Counter(labels.tolist())
        short = any(sizes[g] < wanted + 1 for g, wanted in report.targets.items())
        for group, wanted in report.targets.items():
            got = report.shares.get(group, 0)
            assert got <= sizes[group]
            if sizes[group] >= wanted + 1:  # the group has the hits to meet its target
                assert got >= wanted - 1, (target, group, report)
            if not short:  # no group's shortfall for others to fill
                assert got <= wanted + 1, (target, group, report)
        assert sum(report.shares.values()) == k

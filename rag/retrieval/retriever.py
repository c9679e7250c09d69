"""The retriever: embed the query, prefetch from the ``image`` and ``text`` vectors, fuse, rerank.

* The query's text and image are embedded with the collection's CLIP model; with both, the query
  vector is the normalised mean of the two unit vectors (so each item cosine is, up to one
  constant factor, the average of its cosines to the words and to the picture).
* ``rrf`` and ``dbsf`` run in the engine (one fused query) when the engine's formula is the one
  asked for: DBSF always, RRF when ``rrf_k`` is the engine's k and the weights are equal. Other
  RRF requests (another k, unequal weights) fuse the same two candidate lists here with the same
  formula (:mod:`rag.retrieval.fusion`).
* ``weighted`` scores candidates of the two lists by the exact weighted average of their
  cosines, renormalised over the vectors the item has (an item none of whose vectors has a
  positive weight is left out), reading vectors best bound first (:mod:`rag.retrieval.weighted`).
* Every hit carries the exact cosines of the query to its stored vectors (computed here from the
  vectors the store returns), the fused score, and the rerank score when the reranker ran on it.
  Ties are ordered by point id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np

from rag.config import RetrievalSettings
from rag.embedding.base import Embedder
from rag.errors import InvalidInputError
from rag.retrieval import fusion
from rag.retrieval.plan import ITEM_VECTORS, SearchPlan, make_plan
from rag.retrieval.rerank import Reranker, rerank_within
from rag.retrieval.types import Hit, Query, Scores, SearchResult
from rag.retrieval.weighted import settled, weighted_bounds, weighted_scores
from rag.store import ENGINE_RRF_K
from rag.store.base import (
    EngineFusion,
    Filter,
    Prefetch,
    ScoredPoint,
    StoredPoint,
    VectorStore,
)

TIE_MARGIN = 8
"""Extra engine-fused candidates fetched so that ties at the cut are broken by id, not by chance."""
ENGINE_FUSED = "fused"


class Retriever:
    """Searches one collection with fused image/text candidates and an optional reranker.

    Example::

        retriever = Retriever(embedder, store, settings.retrieval, reranker=None)
        result = retriever.search(Query(text="a red square", fusion="weighted"))
        result.hits[0].scores  # Scores(image=0.31, text=0.87, fused=0.59, rerank=None)
    """

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        settings: RetrievalSettings,
        reranker: Reranker | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.settings = settings
        self.reranker = reranker

    def search(self, query: Query) -> SearchResult:
        """The best hits for ``query``, with per-stage scores and timings (seconds)."""
        plan = make_plan(query, self.settings, self._rerank_n(query))
        timings: dict[str, float] = {}
        with _timed(timings, "encode"):
            vector = self.embed_query(query)
        hits = self.fused_hits(plan, vector, query.filter, timings)
        reranked, complete = bool(plan.rerank_n and hits), True
        if reranked and self.reranker is not None and query.text:
            with _timed(timings, "rerank"):
                head = rerank_within(query.text, hits[: plan.rerank_n], self.reranker)
            hits, complete = head.hits + hits[plan.rerank_n :], head.complete
        return SearchResult(hits[: plan.top_k], timings, reranked, rerank_complete=complete)

    def embed_query(self, query: Query) -> np.ndarray:
        """The unit query vector: of the text, of the image, or the normalised mean of both."""
        parts: list[np.ndarray] = []
        if query.text and query.text.strip():
            parts.append(self.embedder.embed_texts([query.text])[0])
        if query.image is not None:
            parts.append(self.embedder.embed_images([query.image])[0])
        if not parts:
            raise InvalidInputError("a query needs text, an image, or both")
        combined = np.sum(np.asarray(parts, dtype=np.float64), axis=0)
        norm = float(np.linalg.norm(combined))
        if norm == 0.0:
            raise InvalidInputError("the query's text and image cancel out: search with one")
        return (combined / norm).astype(np.float32)

    def fused_hits(
        self,
        plan: SearchPlan,
        vector: np.ndarray,
        flt: Filter | None,
        timings: dict[str, float],
    ) -> list[Hit]:
        """The first ``plan.candidates`` hits by fused score (ties by id), before reranking.

        Candidate lists come without vectors (cheap); the hits' vectors are read afterwards with
        ``get`` for the exact cosines.
        """
        with _timed(timings, "store"):
            lists = self._candidate_lists(plan, vector, flt)
        if plan.fusion == "weighted":
            return self._weighted_hits(plan, vector, lists, timings)
        with _timed(timings, "fuse"):
            order = fusion.ranked(_rank_fusion(plan, self.settings.rrf_k, lists), plan.candidates)
        with _timed(timings, "store"):
            points = self.store.get([pid for pid, _ in order], with_vectors=True)
        with _timed(timings, "fuse"):
            return _hits(points, similarity_matrix(vector, points), order)

    def _weighted_hits(
        self,
        plan: SearchPlan,
        vector: np.ndarray,
        lists: Mapping[str, list[ScoredPoint]],
        timings: dict[str, float],
    ) -> list[Hit]:
        """Exact weighted scores, reading vectors best bound first until no unread candidate can
        reach the ``plan.candidates``-th exact score."""
        with _timed(timings, "fuse"):
            queue = fusion.ranked(weighted_bounds(plan, lists))
        points: list[StoredPoint] = []
        sims: list[np.ndarray] = []
        scores: dict[str, float] = {}
        read, size = 0, plan.candidates
        while read < len(queue):
            batch = [pid for pid, _ in queue[read : read + size]]
            with _timed(timings, "store"):
                fetched = self.store.get(batch, with_vectors=True)
            with _timed(timings, "fuse"):
                points += fetched
                sims.append(similarity_matrix(vector, fetched))
                scores.update(weighted_scores(plan, fetched, sims[-1]))
            read, size = read + len(batch), size * 2
            if read < len(queue) and settled(scores, plan.candidates, queue[read][1]):
                break
        if not points:
            return []
        with _timed(timings, "fuse"):
            return _hits(points, np.vstack(sims), fusion.ranked(scores, plan.candidates))

    def _candidate_lists(
        self, plan: SearchPlan, vector: np.ndarray, flt: Filter | None
    ) -> dict[str, list[ScoredPoint]]:
        """``{"fused": [...]}`` when the engine fuses, else one list per item vector."""
        if self._engine_fuses(plan):
            prefetches = [Prefetch(name, vector, plan.prefetch_limit) for name in ITEM_VECTORS]
            limit = plan.candidates + TIE_MARGIN
            engine: EngineFusion = "dbsf" if plan.fusion == "dbsf" else "rrf"
            return {ENGINE_FUSED: self.store.fused_query(prefetches, engine, limit, flt)}
        return {
            name: self.store.search(name, vector, plan.prefetch_limit, flt) for name in plan.vectors
        }

    def _engine_fuses(self, plan: SearchPlan) -> bool:
        if plan.fusion == "dbsf":
            return True
        return plan.fusion == "rrf" and self.settings.rrf_k == ENGINE_RRF_K and plan.equal_weights

    def _rerank_n(self, query: Query) -> int:
        if query.rerank is False:
            return 0
        if self.reranker is None:
            if query.rerank:
                raise InvalidInputError(
                    "reranking was asked for but no reranker is loaded: set MMRAG_RERANK__MODEL "
                    "to a reranker whose weights are available (see the startup log)"
                )
            return 0
        has_text = bool(query.text and query.text.strip())
        return self.reranker.top_n if has_text else 0


def similarity_matrix(vector: np.ndarray, points: Sequence[StoredPoint]) -> np.ndarray:
    """``(len(points), 2)`` exact cosines to each point's ``image`` and ``text`` vector (NaN when
    the point lacks it)."""
    sims = np.full((len(points), len(ITEM_VECTORS)), np.nan)
    for column, name in enumerate(ITEM_VECTORS):
        rows = [row for row, point in enumerate(points) if name in point.vectors]
        if rows:
            stacked = np.stack([points[row].vectors[name] for row in rows])
            sims[rows, column] = fusion.cosines(vector, stacked)
    return sims


def _rank_fusion(
    plan: SearchPlan, rrf_k: int, lists: Mapping[str, list[ScoredPoint]]
) -> dict[str, float]:
    if ENGINE_FUSED in lists:
        return {point.id: point.score for point in lists[ENGINE_FUSED]}
    ranked_lists = [[(p.id, p.score) for p in lists[name]] for name in plan.vectors]
    if plan.fusion == "dbsf":
        return fusion.dbsf(ranked_lists)
    mean = sum(plan.weights[name] for name in plan.vectors) / len(plan.vectors)
    weights = [plan.weights[name] / mean for name in plan.vectors]
    return fusion.rrf(ranked_lists, k=rrf_k, weights=weights)


def _hits(
    points: Sequence[StoredPoint], sims: np.ndarray, order: list[tuple[str, float]]
) -> list[Hit]:
    row_of = {point.id: row for row, point in enumerate(points)}
    hits = []
    for point_id, fused in order:
        row = row_of.get(point_id)
        if row is None:  # deleted since the candidate lists were read
            continue
        image, text = (None if np.isnan(v) else float(v) for v in sims[row])
        scores = Scores(image=image, text=text, fused=float(fused))
        hits.append(Hit(id=point_id, payload=dict(points[row].payload), scores=scores))
    return hits


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start

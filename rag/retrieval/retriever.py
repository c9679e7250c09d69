"""The retriever: embed the query per signal, prefetch from each signal, fuse, rerank.

* Signals: ``image`` and ``text`` are searched with one CLIP query vector (of the words, of the
  picture, or the normalised mean of both unit vectors); ``passage`` with the passage model's
  query vector; ``lexical`` with the query's BM25 terms (the engine applies IDF). ``passage`` and
  ``lexical`` need words and their encoder; the collection must have the vector
  (:meth:`Retriever.unavailable` says why one cannot be searched).
* ``rrf`` and ``dbsf`` run in the engine: one fused query over a prefetch per signal, RRF with
  ``MMRAG_RETRIEVAL__RRF_K`` and each signal's weight (divided by the mean weight), DBSF over every
  signal searched. The fused query returns the hits' payloads; their signal scores come from
  one ``score_points`` round trip. Where the store scans every point for the search anyway
  (:meth:`VectorStore.scanned`), the same formulas fuse the scan's arrays (ties by id), and the
  hits' signal scores come from the scan.
* ``weighted`` scores candidates of the signals' lists (read in one round trip) by the exact
  weighted mean of their signal scores, renormalised over the signals the item has (lexical BM25
  divided by the query's best BM25 score in the collection; see :mod:`rag.retrieval.weighted`),
  one round of store scores at a time, best bound first when one round does not hold them all.
  An item none of whose vectors has a positive weight is left out. Where the store scans every
  point for the search anyway (:meth:`VectorStore.scanned`), the same candidates are picked and
  scored from the scan's arrays.
* Every hit carries one score per signal searched (the store's exact cosine, or its BM25 score
  for ``lexical``, 0 when the item has terms but none of the query's; one ``score_points`` round
  trip for all signals), ``None`` for a signal not searched or a vector the item lacks; the fused
  score; the rerank score when the reranker ran on it. Ties are ordered by point id.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from rag.config import RetrievalSettings
from rag.embedding.base import Embedder, LexicalEncoder, PassageEncoder
from rag.errors import InvalidInputError
from rag.retrieval import fusion
from rag.retrieval.plan import CLIP_SIGNALS, SearchPlan, make_plan
from rag.retrieval.rerank import Reranker, rerank_within
from rag.retrieval.types import Hit, Query, Scores, SearchResult, Signal
from rag.retrieval.weighted import settled, weighted_bounds, weighted_scores, weighted_values
from rag.store.base import (
    LEXICAL,
    PASSAGE,
    CollectionLayout,
    EngineFusion,
    Filter,
    Prefetch,
    QueryVector,
    ScoredPoint,
    VectorStore,
)

if TYPE_CHECKING:
    from rag.store.vector_copy import Scan

TIE_MARGIN = 8
"""Extra engine-fused candidates fetched so that ties at the cut are broken by id, not by chance."""
FIRST_BATCH = 256
"""Weighted fusion scores at least this many candidates in its first round, then twice as many
each round (best bound first). Each round costs one ``score_points`` round trip, and on random
vectors the bounds prune little, so one round over the default 4 x 50 candidates is cheapest
(measured at 10k points, four signals: 8.8 ms p50 vs 9.4 ms starting at 64, 10.3 ms at 16)."""
QueryVectors = Mapping[str, QueryVector]
"""The query per signal: a dense vector, or :class:`SparseTerms` for ``lexical``."""


class Retriever:
    """Searches one collection over up to four signals, with an optional reranker.

    Example::

        retriever = Retriever(embedder, store, settings.retrieval, reranker=None,
                              passage_encoder=passage, lexical_encoder=bm25)
        result = retriever.search(Query(text="error E-1042", fusion="weighted"))
        result.hits[0].scores  # Scores(image=0.21, text=0.30, fused=0.71, passage=0.62, ...)
    """

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        settings: RetrievalSettings,
        reranker: Reranker | None = None,
        *,
        passage_encoder: PassageEncoder | None = None,
        lexical_encoder: LexicalEncoder | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.settings = settings
        self.reranker = reranker
        self.passage_encoder = passage_encoder
        self.lexical_encoder = lexical_encoder
        self._layout: CollectionLayout | None = None

    def search(self, query: Query) -> SearchResult:
        """The best hits for ``query``, with per-stage scores and timings (seconds)."""
        plan = self.plan(query)
        timings: dict[str, float] = {}
        with _timed(timings, "encode"):
            vectors = self.embed_signals(query, plan.signals)
        hits = self.fused_hits(plan, vectors, query.filter, timings)
        reranked, complete = bool(plan.rerank_n and hits), True
        if reranked and self.reranker is not None and query.text:
            with _timed(timings, "rerank"):
                head = rerank_within(query.text, hits[: plan.rerank_n], self.reranker)
            hits, complete = head.hits + hits[plan.rerank_n :], head.complete
        return SearchResult(hits[: plan.top_k], timings, reranked, rerank_complete=complete)

    def plan(self, query: Query) -> SearchPlan:
        """``query`` checked against the settings and the signals on offer."""
        return make_plan(query, self.settings, self._rerank_n(query), self.unavailable())

    def unavailable(self) -> dict[str, str]:
        """Each signal this retriever cannot search, with what to set to search it."""
        layout = self._collection_layout()
        out: dict[str, str] = {}
        if self.passage_encoder is None:
            out[PASSAGE] = "the passage model is off: set MMRAG_PASSAGE__MODEL to a model"
        elif not layout.has(PASSAGE):
            out[PASSAGE] = self._not_in_collection(PASSAGE, "MMRAG_PASSAGE__MODEL")
        if self.lexical_encoder is None:
            out[LEXICAL] = "lexical search is off: set MMRAG_LEXICAL__ENABLED=true"
        elif not layout.has(LEXICAL):
            out[LEXICAL] = self._not_in_collection(LEXICAL, "MMRAG_LEXICAL__ENABLED=true")
        return out

    def embed_query(self, query: Query) -> np.ndarray:
        """The unit CLIP query vector: of the text, of the image, or the normalised mean of both."""
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

    def embed_signals(self, query: Query, signals: Sequence[Signal]) -> dict[str, QueryVector]:
        """The query vector of each signal in ``signals`` (one CLIP vector for image and text)."""
        vectors: dict[str, QueryVector] = {}
        if any(name in CLIP_SIGNALS for name in signals):
            clip = self.embed_query(query)
            vectors.update({name: clip for name in CLIP_SIGNALS if name in signals})
        text = (query.text or "").strip()
        if PASSAGE in signals and self.passage_encoder is not None and text:
            vectors[PASSAGE] = self.passage_encoder.encode_queries([text])[0]
        if LEXICAL in signals and self.lexical_encoder is not None and text:
            vectors[LEXICAL] = self.lexical_encoder.encode_queries([text])[0]
        return vectors

    def fused_hits(
        self,
        plan: SearchPlan,
        vectors: QueryVectors | np.ndarray,
        flt: Filter | None,
        timings: dict[str, float],
    ) -> list[Hit]:
        """The first ``plan.candidates`` hits by fused score (ties by id), before reranking.

        ``vectors`` holds the query of each signal (a bare array is the CLIP vector).
        """
        if isinstance(vectors, np.ndarray):
            vectors = {name: vectors for name in CLIP_SIGNALS}
        if plan.fusion == "weighted":
            return self._weighted_hits(plan, vectors, flt, timings)
        return self._engine_hits(plan, vectors, flt, timings)

    # --- rrf and dbsf: the engine's fusion, in one fused query or over the store's scan ---------

    def _engine_hits(
        self, plan: SearchPlan, vectors: QueryVectors, flt: Filter | None, timings: dict[str, float]
    ) -> list[Hit]:
        weights = _rrf_weights(plan) if plan.fusion == "rrf" else {}
        with _timed(timings, "store"):
            scan = self.store.scanned({name: vectors[name] for name in plan.vectors}, flt)
        if scan is not None:
            return self._fused_scanned(plan, scan, weights, timings)
        prefetches = [
            Prefetch(name, vectors[name], plan.prefetch_limit, weight=weights.get(name, 1.0))
            for name in plan.vectors
        ]
        limit = plan.candidates + TIE_MARGIN
        engine: EngineFusion = "dbsf" if plan.fusion == "dbsf" else "rrf"
        with _timed(timings, "store"):
            points = self.store.fused_query(
                prefetches, engine, limit, flt, rrf_k=self.settings.rrf_k
            )
        with _timed(timings, "fuse"):
            order = fusion.ranked({p.id: p.score for p in points}, plan.candidates)
        ids = [pid for pid, _ in order]
        with _timed(timings, "store"):
            sims = self.signal_scores(plan, vectors, ids, {})
        with _timed(timings, "fuse"):
            return _hits(order, sims, {p.id: p.payload for p in points}, plan)

    def _fused_scanned(
        self, plan: SearchPlan, scan: Scan, weights: Mapping[str, float], timings: dict[str, float]
    ) -> list[Hit]:
        """:meth:`_engine_hits` from the store's scan: the engine's fusion of the same lists,
        ties by id (no extra candidates to order them), and each hit's scores from the scan."""
        with _timed(timings, "fuse"):
            limits = [plan.prefetch_limit] * len(scan.names)
            given = [weights.get(name, 1.0) for name in scan.names]
            best = scan.fused(limits, plan.fusion, plan.candidates, self.settings.rrf_k, given)
        return self._scanned_hits(plan, scan, best, timings)

    # --- weighted: exact scores, candidates scored best bound first ------------------------------

    def _weighted_hits(
        self, plan: SearchPlan, vectors: QueryVectors, flt: Filter | None, timings: dict[str, float]
    ) -> list[Hit]:
        """Exact weighted scores of each signal's ``plan.prefetch_limit`` nearest points: over
        the store's scan of the collection or of the search results when it has one, else
        scoring candidates best bound first until no unscored candidate can reach the
        ``plan.candidates``-th exact score."""
        with _timed(timings, "store"):
            queries: dict[str, QueryVector] = {name: vectors[name] for name in plan.vectors}
            scan = self.store.scanned(queries, flt)
            if scan is None:
                scan = self.store.searched(queries, plan.prefetch_limit, flt)
        if scan is not None:
            return self._weighted_scanned(plan, scan, timings)
        with _timed(timings, "store"):
            lists = self.store.search_each(queries, plan.prefetch_limit, flt)
        size = max(plan.candidates, FIRST_BATCH)
        with _timed(timings, "fuse"):
            best = _lexical_best(lists.get(LEXICAL, []))
            queue = _scoring_order(plan, lists, best, size)
        ids: list[str] = []
        sims: list[np.ndarray] = []
        scores: dict[str, float] = {}
        read = 0
        while read < len(queue):
            batch = [pid for pid, _ in queue[read : read + size]]
            with _timed(timings, "store"):
                batch_sims = self.signal_scores(plan, vectors, batch, lists)
            with _timed(timings, "fuse"):
                ids += batch
                sims.append(batch_sims)
                scores.update(weighted_scores(plan, batch, batch_sims, best))
            read, size = read + len(batch), size * 2
            if read < len(queue) and settled(scores, plan.candidates, queue[read][1]):
                break
        if not ids:
            return []
        with _timed(timings, "fuse"):
            order = fusion.ranked(scores, plan.candidates)
        with _timed(timings, "store"):
            payloads = {p.id: p.payload for p in self.store.get([pid for pid, _ in order])}
        with _timed(timings, "fuse"):
            return _hits(order, _rows(ids, np.vstack(sims)), payloads, plan)

    def _weighted_scanned(
        self, plan: SearchPlan, scan: Scan, timings: dict[str, float]
    ) -> list[Hit]:
        """:meth:`_weighted_hits` from the store's scan (of the collection, or of the search
        results): the same candidates (each signal's ``plan.prefetch_limit`` nearest) and exact
        scores, as arrays (dense signals only)."""
        with _timed(timings, "fuse"):
            rows = scan.candidates(plan.prefetch_limit)
            sims = scan.table(rows, plan.signals)
            scored = weighted_values(plan, sims)
            kept = ~np.isnan(scored)  # an item with no positive-weight vector is left out
            best = scan.best(rows[kept], scored[kept], plan.candidates)
        return self._scanned_hits(plan, scan, best, timings)

    def _scanned_hits(
        self,
        plan: SearchPlan,
        scan: Scan,
        best: list[tuple[str, float, int]],
        timings: dict[str, float],
    ) -> list[Hit]:
        """Hits of the ``(point id, fused score, row)`` chosen from ``scan``, best first, with
        their payloads (one read) and each signal's score from the scan."""
        with _timed(timings, "store"):
            payloads = {p.id: p.payload for p in self.store.get([pid for pid, _, _ in best])}
        with _timed(timings, "fuse"):
            order = [(pid, score) for pid, score, _ in best]
            sims = scan.table(np.array([row for _, _, row in best], np.int64), plan.signals)
            return _hits(order, sims, payloads, plan)

    # --- per-signal scores of hits ----------------------------------------------------------------

    def signal_scores(
        self,
        plan: SearchPlan,
        vectors: QueryVectors,
        ids: Sequence[str],
        lists: Mapping[str, list[ScoredPoint]],
    ) -> np.ndarray:
        """``(len(ids), len(plan.signals))`` scores of the points ``ids`` (NaN where a point
        lacks the vector): the engine's exact cosine for a dense signal, its BM25 for
        ``lexical`` (0 for a point with terms but none of the query's).

        Scores in ``lists`` (the signals' candidate lists) are reused; the others come from the
        store's exact scores of the missing ids, one round trip for every signal (no vectors
        travel). A point missing from a dense list that is not full lacks that vector; one
        missing from the lexical list may still have terms (it scores 0), so the store is asked.
        """
        sims = np.full((len(ids), len(plan.signals)), np.nan)
        known: dict[str, dict[str, float]] = {
            name: {p.id: p.score for p in lists.get(name, [])}
            for name in plan.signals
            if name in vectors
        }
        asked: dict[str, QueryVector] = {}
        for name, scores in known.items():
            complete = name != LEXICAL and name in lists and len(lists[name]) < plan.prefetch_limit
            if not complete and any(pid not in scores for pid in ids):
                asked[name] = vectors[name]
        if asked:
            everywhere = set.intersection(*(set(known[name]) for name in asked))
            missing = [pid for pid in ids if pid not in everywhere]
            for asked_name, scores in self.store.score_points(missing, asked).items():
                known[asked_name].update(scores)
        for column, name in enumerate(plan.signals):
            if name in known:
                scores = known[name]
                sims[:, column] = [scores.get(pid, np.nan) for pid in ids]
        return sims

    # --- settings and the collection -------------------------------------------------------------

    def _collection_layout(self) -> CollectionLayout:
        if self._layout is None:
            layout = self.store.collection_layout()
            if layout is None:
                return CollectionLayout({})
            self._layout = layout
        return self._layout

    def _not_in_collection(self, name: str, setting: str) -> str:
        return (
            f"collection {self.store.collection!r} has no {name} vectors: open it with {setting} "
            "(the vectors are added in place), then `mmrag ingest --policy overwrite` fills them"
        )

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


def _rrf_weights(plan: SearchPlan) -> dict[str, float]:
    """Each prefetched signal's weight divided by their mean (all 1 for equal weights)."""
    mean = sum(plan.weights[name] for name in plan.vectors) / len(plan.vectors)
    return {name: plan.weights[name] / mean for name in plan.vectors}


def _scoring_order(
    plan: SearchPlan, lists: Mapping[str, list[ScoredPoint]], lexical_best: float, first: int
) -> list[tuple[str, float]]:
    """The candidates best bound first; when the first round scores them all, in list order
    with no bounds (which would not spare a read)."""
    candidates = dict.fromkeys(p.id for found in lists.values() for p in found)
    if len(candidates) <= first:
        return [(pid, np.inf) for pid in candidates]
    return fusion.ranked(weighted_bounds(plan, _normalised_lists(lists, lexical_best)))


def _lexical_best(candidates: Sequence[ScoredPoint]) -> float:
    """The query's best BM25 score in the collection (the lexical list's first), 1 when none."""
    return candidates[0].score if candidates and candidates[0].score > 0 else 1.0


def _normalised_lists(
    lists: Mapping[str, list[ScoredPoint]], lexical_best: float
) -> dict[str, list[ScoredPoint]]:
    if LEXICAL not in lists:
        return dict(lists)
    scaled = [replace(p, score=p.score / lexical_best) for p in lists[LEXICAL]]
    return {**lists, LEXICAL: scaled}


def _rows(ids: Sequence[str], sims: np.ndarray) -> dict[str, np.ndarray]:
    return {pid: sims[row] for row, pid in enumerate(ids)}


def _hits(
    order: list[tuple[str, float]],
    sims: np.ndarray | Mapping[str, np.ndarray],
    payloads: Mapping[str, dict],
    plan: SearchPlan,
) -> list[Hit]:
    """Hits in ``order`` with their signal scores (``sims``: rows in ``order``'s order, or by
    id) and payloads; a point deleted since its list was read is left out."""
    if isinstance(sims, Mapping):
        rows = [sims[pid].tolist() if pid in sims else None for pid, _ in order]
    else:
        rows = sims.tolist()
    columns = [plan.signals.index(name) if name in plan.signals else None for name in _SCORED]
    hits = []
    for (point_id, fused), row in zip(order, rows, strict=True):
        payload = payloads.get(point_id)
        if payload is None or row is None:
            continue
        image, text, passage, lexical = [
            None if column is None or math.isnan(row[column]) else row[column] for column in columns
        ]
        scores = Scores(image, text, float(fused), passage=passage, lexical=lexical)
        hits.append(Hit(id=point_id, payload=dict(payload), scores=scores))
    return hits


_SCORED = ("image", "text", "passage", "lexical")
"""The signals a :class:`Scores` holds, in :func:`_hits`' order."""


class _timed:
    """Adds the seconds its block takes to ``timings[stage]`` (a class: a generator-based
    context manager costs several calls more, on every stage of every search)."""

    __slots__ = ("_stage", "_start", "_timings")

    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self._timings, self._stage = timings, stage

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        self._timings[self._stage] = self._timings.get(self._stage, 0.0) + elapsed

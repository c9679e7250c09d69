"""The retriever: plan -> embed -> ``store.candidates`` -> fuse -> ``store.get`` -> diversify
-> rerank -> fair exposure (diversity and fair exposure only when the query asks).

Each signal is searched with its own query vector: ``image`` and ``text`` with one CLIP vector
(of the words, the picture, or the normalised mean of both), ``passage`` with the passage
model's, ``lexical`` with the query's BM25 terms. The store returns each signal's list and the
candidates' exact scores (:class:`~rag.store.candidates.Candidates`); :func:`fusion.fuse` ranks
them (ties by id). Every hit carries one score per signal searched (``None`` where the item
lacks the vector), the fused score, and the rerank score when the reranker ran on it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from rag import tracing
from rag.config import RetrievalSettings
from rag.embedding.base import Embedder, LexicalEncoder, PassageEncoder
from rag.errors import InvalidInputError
from rag.retrieval import fusion
from rag.retrieval.collection_defaults import DefaultsFile
from rag.retrieval.diversity import pool_size, spread
from rag.retrieval.extra_candidates import MAX_EXTRA, merged_candidates, restricted
from rag.retrieval.fairness import check_spread, fair_top_k
from rag.retrieval.plan import SearchPlan, make_plan
from rag.retrieval.rerank import Reranker, rerank_within
from rag.retrieval.types import Diversity, Hit, Query, Scores, SearchResult
from rag.signals import CLIP_SIGNALS, LEXICAL, PASSAGE, SIGNALS, Signal
from rag.store.base import CollectionLayout, Filter, QueryVector, VectorStore
from rag.store.candidates import Candidates

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
        defaults: DefaultsFile | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.settings = settings
        self.reranker = reranker
        self.passage_encoder = passage_encoder
        self.lexical_encoder = lexical_encoder
        self.defaults = defaults
        """The collection's own search defaults (``mmrag collection defaults``), or none."""
        self._layout: CollectionLayout | None = None

    def search(self, query: Query) -> SearchResult:
        """The best hits for ``query``, with per-stage scores and timings (seconds)."""
        plan = self.plan(query)
        check_spread(query)
        timings: dict[str, float] = {}
        with _timed(timings, "encode", "embed"):
            vectors = self.embed_signals(query, plan.signals)
        pool = None  # the plain search's candidates
        if query.fair is not None:  # fair exposure re-orders the whole pool
            pool = plan.prefetch_limit
        elif query.diversity is not None:
            pool = pool_size(plan, query.diversity)
        keep = plan.candidates if query.fair is None else None  # fair exposure reads them all
        hits = self.fused_hits(
            plan, vectors, query.filter, timings, query.candidates, pool, query.diversity, keep
        )
        reranked, complete = bool(plan.rerank_n and hits), True
        if reranked and self.reranker is not None and query.text:
            with _timed(timings, "rerank"):
                head = rerank_within(query.text, hits[: plan.rerank_n], self.reranker)
            hits, complete = head.hits + hits[plan.rerank_n :], head.complete
        fair = None
        if query.fair is not None:
            with _timed(timings, "diversify"):
                hits, fair = fair_top_k(hits, plan.top_k, query.fair)
        return SearchResult(hits[: plan.top_k], timings, reranked, complete, fairness=fair)

    def plan(self, query: Query) -> SearchPlan:
        """``query`` checked against the collection's defaults, the settings and the signals on
        offer."""
        own = None if self.defaults is None else self.defaults.read()
        return make_plan(query, self.settings, self._rerank_n(query), self.unavailable(), own)

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
        extra: Sequence[str] = (),
        limit: int | None = None,
        diversity: Diversity | None = None,
        keep: int | None = None,
    ) -> list[Hit]:
        """The first ``plan.candidates`` (or ``limit``) hits by fused score (ties by id), before
        reranking.

        ``vectors`` holds the query of each signal (a bare array is the CLIP vector); the points
        of ``extra`` are ranked too (:mod:`rag.retrieval.extra_candidates`). ``diversity``
        spreads them (:func:`rag.retrieval.diversity.spread`) before their hits are made: the
        first ``keep`` of them (all when ``None``) become hits, with their signal scores.
        """
        if isinstance(vectors, np.ndarray):
            vectors = {name: vectors for name in CLIP_SIGNALS}
        queries: dict[str, QueryVector] = {n: vectors[n] for n in plan.vectors if n in vectors}
        with _timed(timings, "store", "candidates"):
            found = self.store.candidates(queries, plan.prefetch_limit, flt)
            if extra:
                extra = list(dict.fromkeys(extra))[:MAX_EXTRA]
                cited = self.store.candidates(queries, len(extra), restricted(flt, extra))
                found = merged_candidates(found, cited)
        with _timed(timings, "fuse"):
            k = self.settings.rrf_k
            best = fusion.fuse(found, plan.fusion, plan.weights, limit or plan.candidates, k)
        folded: list[int] = []
        if diversity is not None:
            with _timed(timings, "diversify"):
                ids = [found.ids[row] for row, _ in best]
                chosen = spread(self.store, plan, diversity, ids, [s for _, s in best], keep)
                best = [best[i] for i in chosen.order]
                payloads, folded = chosen.payloads, chosen.folded
        rows = np.array([row for row, _ in best], np.int64)
        with _timed(timings, "store", "get"):
            if diversity is None:
                table = found.table(rows)
                points = self.store.get([found.ids[row] for row in rows.tolist()])
                payloads = {p.id: p.payload for p in points}
            else:  # mmr read the kept points' vectors: their scores need no engine call
                kept = [found.ids[row] for row in rows.tolist()]
                scored = chosen.scores(kept, queries, found.names)
                table = found.table(rows) if scored is None else scored
        with _timed(timings, "fuse", "hits"):
            return _hits(found, best, table, payloads, plan, folded)

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


def _hits(
    found: Candidates,
    best: list[tuple[int, float]],
    table: np.ndarray,
    payloads: Mapping[str, dict],
    plan: SearchPlan,
    folded: Sequence[int] = (),
) -> list[Hit]:
    """Hits of the ``(row, fused score)`` in ``best`` with their signal scores (``table``: the
    rows' exact scores), payloads and ``folded`` counts (none: 0); a point deleted since its
    list was read is left out."""
    columns = [found.names.index(n) if n in found.names else None for n in SIGNALS]
    hits = []
    folds = folded or [0] * len(best)
    for (row, fused), scored, fold in zip(best, table.tolist(), folds, strict=True):
        point_id = found.ids[row]
        payload = payloads.get(point_id)
        if payload is None:
            continue
        signals = {
            name: None if c is None or math.isnan(scored[c]) else scored[c]
            for name, c in zip(SIGNALS, columns, strict=True)
        }
        scores = Scores(fused=float(fused), **signals)  # type: ignore[arg-type]
        hits.append(Hit(id=point_id, payload=dict(payload), scores=scores, folded=fold))
    return hits


class _timed:
    """Adds the seconds its block takes to ``timings[stage]``, and records them as the span
    ``search.<span>`` when traces are on (a class: a generator-based context manager costs
    several calls more, on every stage of every search)."""

    __slots__ = ("_span", "_stage", "_start", "_timings")

    def __init__(self, timings: dict[str, float], stage: str, span: str = "") -> None:
        self._timings, self._stage, self._span = timings, stage, span or stage

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        self._timings[self._stage] = self._timings.get(self._stage, 0.0) + elapsed
        if tracing.enabled():
            error = exc[1] if isinstance(exc[1], BaseException) else None
            tracing.finished(f"search.{self._span}", elapsed, error=error)

"""Evaluate retrieval on labelled queries: Recall@1/5/10, MRR, nDCG@10 and latency per stage,
for every signal alone and for every fusion mode over all of them, with and without reranking.

A queries file is JSON Lines, one query per line::

    {"text": "a red square", "relevant": ["sq-1", "3f2b...uuid"]}
    {"image": "photos/cat.jpg", "text": "this cat", "relevant": ["cat-7"]}

``text`` (or ``query``) and/or ``image`` (a path, relative to the file's folder) make the query;
``relevant`` (or ``relevant_ids``) lists point ids or external ids. A hit is relevant when its point
id or its payload's ``external_id`` is listed.

Example::

    rows = evaluate(services.retriever, load_queries(Path("qrels.jsonl")))
    [(row.label, row.metrics["mrr"]) for row in rows]  # ("passage", 0.8), ("rrf", 0.9), ...
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rag import payload as keys
from rag.errors import InvalidInputError
from rag.retrieval.metrics import mean_metrics, query_metrics
from rag.retrieval.plan import CLIP_SIGNALS, FUSION_MODES, ITEM_VECTORS, parse_signals
from rag.retrieval.rerank import Reranker
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import FusionMode, Hit, Query, Signal

EVAL_TOP_K = 10
MetricsOf = Callable[[Sequence[str], Collection[str]], dict[str, float]]
"""One query's metrics from its ranked and relevant ids (``query_metrics``, ``beir_metrics``)."""


@dataclass(frozen=True)
class EvalQuery:
    """One labelled query: text and/or an image file, and the ids that answer it."""

    relevant: frozenset[str]
    text: str | None = None
    image: Path | None = None


@dataclass(frozen=True)
class EvalRow:
    """Mean metrics of every query for one way to search: one signal alone (``fusion`` ``None``)
    or ``signals`` fused by ``fusion``, reranked or not; ``latency_ms``: mean ms per stage;
    ``per_query``: each query's metrics, in the order of the queries (for paired tests)."""

    signals: tuple[Signal, ...]
    fusion: FusionMode | None
    rerank: bool
    metrics: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    per_query: tuple[dict[str, float], ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        """``passage`` for one signal, the fusion mode (``rrf``) for fused signals."""
        return self.fusion if self.fusion is not None else "+".join(self.signals)

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "signals": list(self.signals),
            "fusion": self.fusion,
            "rerank": self.rerank,
            **self.metrics,
            "latency_ms": self.latency_ms,
        }


def load_queries(path: Path) -> list[EvalQuery]:
    """Read a queries file (see the module docstring); errors name the line to fix."""
    queries = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            queries.append(_parse_line(line, Path(path).parent, f"{path}:{number}"))
    if not queries:
        raise InvalidInputError(f"{path} holds no queries: write one JSON object per line")
    return queries


def _parse_line(line: str, folder: Path, where: str) -> EvalQuery:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise InvalidInputError(f"{where}: write a JSON object per line")
    text = row.get("text", row.get("query"))
    image = row.get("image")
    relevant = row.get("relevant", row.get("relevant_ids"))
    if not text and not image:
        raise InvalidInputError(f'{where}: give "text" and/or "image"')
    if isinstance(relevant, str):
        relevant = [relevant]
    if not relevant or not isinstance(relevant, list):
        raise InvalidInputError(f'{where}: give "relevant": a list of point or external ids')
    path = None if not image else (folder / str(image)).expanduser()
    if path is not None and not path.is_file():
        raise InvalidInputError(f"{where}: image {path} does not exist")
    return EvalQuery(frozenset(str(r) for r in relevant), str(text) if text else None, path)


def ranked_keys(hits: Sequence[Hit], relevant: frozenset[str]) -> list[str]:
    """Each hit as the id the labels use: its point id, or its external id when that is listed."""
    out = []
    for hit in hits:
        external = hit.payload.get(keys.EXTERNAL_ID)
        out.append(str(external) if hit.id not in relevant and external in relevant else hit.id)
    return out


def evaluate(
    retriever: Retriever,
    queries: Sequence[EvalQuery],
    modes: Iterable[FusionMode] = FUSION_MODES,
    rerank: Sequence[bool] = (False, True),
    signals: Sequence[str] | None = None,
    metrics_of: MetricsOf = query_metrics,
    top_k: int = EVAL_TOP_K,
    weights: dict[str, float] | None = None,
) -> list[EvalRow]:
    """Rows for each of ``signals`` alone (default: every signal the retriever has), then one
    per fusion mode over all of them; each without and with reranking (rerank rows need a
    reranker). Each query ranks ``top_k`` hits, scored by ``metrics_of``; ``weights`` replace
    the settings' signal weights (rrf and weighted)."""
    retriever = _with_cached_queries(retriever)
    if retriever.reranker is not None:
        cached = _CachedReranker(retriever.reranker)
        retriever = copy.copy(retriever)
        retriever.reranker = cached
    options = [flag for flag in rerank if not flag or retriever.reranker is not None]
    chosen = parse_signals(list(signals)) if signals else available_signals(retriever)
    images = {q.image: _open(q.image) for q in queries if q.image is not None}
    ways: list[tuple[tuple[Signal, ...], FusionMode | None]] = [((s,), None) for s in chosen]
    if len(chosen) > 1:
        ways += [(chosen, mode) for mode in modes]
    rows = []
    for way_signals, mode in ways:
        for flag in options:
            way = _Way(way_signals, mode, flag, top_k, metrics_of, weights)
            runs = [_run(retriever, q, way, images) for q in queries]
            per_query = tuple(metrics for metrics, _ in runs)
            rows.append(
                EvalRow(
                    way_signals,
                    mode,
                    flag,
                    mean_metrics(per_query),
                    _mean_ms(t for _, t in runs),
                    per_query,
                )
            )
    return rows


@dataclass(frozen=True)
class _Way:
    signals: tuple[Signal, ...]
    fusion: FusionMode | None
    rerank: bool
    top_k: int
    metrics_of: MetricsOf
    weights: dict[str, float] | None = None


def _run(
    retriever: Retriever,
    query: EvalQuery,
    way: _Way,
    images: dict[Path, Image.Image],
) -> tuple[dict[str, float], dict[str, float]]:
    image = images[query.image] if query.image is not None else None
    usable = tuple(s for s in way.signals if query.text or s in CLIP_SIGNALS)
    if not usable:  # a picture alone cannot search words: the query finds nothing here
        return way.metrics_of([], query.relevant), {}
    request = Query(
        text=query.text,
        image=image,
        signals=usable,
        fusion=way.fusion,
        weights=way.weights if way.fusion is not None else None,
        top_k=way.top_k,
        rerank=way.rerank,
    )
    result = retriever.search(request)
    timings = {**result.timings, "total": sum(result.timings.values())}
    return way.metrics_of(ranked_keys(result.hits, query.relevant), query.relevant), timings


def available_signals(retriever: Retriever) -> tuple[Signal, ...]:
    """The signals ``retriever`` can search, in the fixed order."""
    unavailable = retriever.unavailable()
    return tuple(s for s in ITEM_VECTORS if s not in unavailable)


def _mean_ms(per_query: Iterable[dict[str, float]]) -> dict[str, float]:
    rows = list(per_query)
    stages = dict.fromkeys(stage for row in rows for stage in row)
    return {
        stage: round(1000 * sum(row.get(stage, 0.0) for row in rows) / len(rows), 3)
        for stage in stages
    }


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as exc:
        raise InvalidInputError(f"cannot read query image {path}: {exc}") from None


def _with_cached_queries(retriever: Retriever) -> Retriever:
    """A shallow copy whose passage encoder encodes each query text once over all the ways."""
    encoder = getattr(retriever, "passage_encoder", None)
    if encoder is None:
        return retriever
    retriever = copy.copy(retriever)
    retriever.passage_encoder = _CachedQueries(encoder)
    return retriever


class _CachedQueries:
    """A passage encoder that remembers query vectors (documents pass through)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._vectors: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.inner.encode_queries(missing), strict=True))
        return np.asarray([self._vectors[t] for t in texts])


class _CachedReranker:
    """Remembers scores, so that fusion modes sharing candidates rerank each pair once."""

    def __init__(self, inner: Reranker) -> None:
        self.inner = inner
        self._scores: dict[tuple[str, str], float] = {}

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def budget_s(self) -> float | None:
        """None: an evaluation reranks every candidate, whatever the search budget."""
        return None

    @property
    def top_n(self) -> int:
        return self.inner.top_n

    def warm_up(self) -> None:
        self.inner.warm_up()

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        missing = list(dict.fromkeys(d for d in documents if (query, d) not in self._scores))
        for document, value in zip(missing, self.inner.score(query, missing), strict=True):
            self._scores[(query, document)] = value
        return [self._scores[(query, document)] for document in documents]

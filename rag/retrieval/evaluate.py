"""Evaluate retrieval on labelled queries: Recall@1/5/10, MRR, nDCG@10 per fusion mode and rerank.

A queries file is JSON Lines, one query per line::

    {"text": "a red square", "relevant": ["sq-1", "3f2b...uuid"]}
    {"image": "photos/cat.jpg", "text": "this cat", "relevant": ["cat-7"]}

``text`` (or ``query``) and/or ``image`` (a path, relative to the file's folder) make the query;
``relevant`` (or ``relevant_ids``) lists point ids or external ids. A hit is relevant when its point
id or its payload's ``external_id`` is listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from rag import payload as keys
from rag.errors import InvalidInputError
from rag.retrieval.metrics import mean_metrics, query_metrics
from rag.retrieval.plan import FUSION_MODES
from rag.retrieval.rerank import Reranker
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import FusionMode, Hit, Query

EVAL_TOP_K = 10


@dataclass(frozen=True)
class EvalQuery:
    """One labelled query: text and/or an image file, and the ids that answer it."""

    relevant: frozenset[str]
    text: str | None = None
    image: Path | None = None


@dataclass(frozen=True)
class EvalRow:
    """Mean metrics of every query for one fusion mode, reranked or not."""

    fusion: FusionMode
    rerank: bool
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"fusion": self.fusion, "rerank": self.rerank, **self.metrics}


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
) -> list[EvalRow]:
    """One :class:`EvalRow` per (fusion mode, rerank) pair; rerank rows need a reranker."""
    if retriever.reranker is not None:
        cached = _CachedReranker(retriever.reranker)
        retriever = Retriever(retriever.embedder, retriever.store, retriever.settings, cached)
    options = [flag for flag in rerank if not flag or retriever.reranker is not None]
    images = {q.image: _open(q.image) for q in queries if q.image is not None}
    rows = []
    for mode in modes:
        for flag in options:
            per_query = [_run(retriever, q, mode, flag, images) for q in queries]
            rows.append(EvalRow(mode, flag, mean_metrics(per_query)))
    return rows


def _run(
    retriever: Retriever,
    query: EvalQuery,
    mode: FusionMode,
    rerank: bool,
    images: dict[Path, Image.Image],
) -> dict[str, float]:
    image = images[query.image] if query.image is not None else None
    request = Query(text=query.text, image=image, fusion=mode, top_k=EVAL_TOP_K, rerank=rerank)
    hits = retriever.search(request).hits
    return query_metrics(ranked_keys(hits, query.relevant), query.relevant)


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as exc:
        raise InvalidInputError(f"cannot read query image {path}: {exc}") from None


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

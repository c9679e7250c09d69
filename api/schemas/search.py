"""Search: text and/or an image in, hits with every stage's score out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import RequestModel
from api.schemas.items import ItemOut
from rag.highlights import best_boxes
from rag.retrieval.types import Hit
from rag.signals import Signal

FilterField = str | list[str] | None
"""Filter expressions, all must hold: ``"metadata.year>=2020"``, ``["source=cats.jsonl", ...]``
(``key=value``, ``key!=value``, ``key=a|b``, ``key>=n``, ``key<n``; dates compare too)."""


SignalName = Signal
"""The signals a search may name (:data:`rag.signals.Signal`)."""


class DiversityIn(RequestModel):
    """How to spread the hits: ``mmr`` with ``lambda`` (1: the plain ranking, lower: more
    novel hits), or ``collapse`` keeping the best hit per value of ``field``."""

    mode: Literal["mmr", "collapse"]
    lambda_: float = Field(default=0.5, ge=0.0, le=1.0, alias="lambda")
    field: str = Field(
        default="document",
        max_length=200,
        description="collapse: document, page, source, duplicate, or a metadata key such as "
        "metadata.camera.",
    )


DiversityField = DiversityIn | Annotated[str, StringConstraints(max_length=220)] | None
"""Diversity as an object, or the short form: ``"mmr"``, ``"mmr:0.7"``, ``"collapse"``,
``"collapse:page"``, ``"collapse:metadata.camera"``."""


class QueryIn(RequestModel):
    """The retrieval options shared by search and chat; unset ones follow the server's settings."""

    signals: list[SignalName] | None = Field(
        default=None,
        description="Signals to search (default: every one the collection has; passage and "
        "lexical need words), e.g. ['passage', 'lexical'].",
    )
    fusion: Literal["rrf", "dbsf", "weighted"] | None = None
    weights: dict[str, float] | None = Field(
        default=None,
        description="Weight per signal (one left out weighs 0), e.g. {'passage': 0.7, "
        "'lexical': 0.3}.",
    )
    filter: FilterField = Field(default=None, description=FilterField.__doc__)
    top_k: int | None = Field(default=None, ge=1, description="At most MMRAG_RETRIEVAL__MAX_TOP_K.")
    rerank: bool | None = None
    diversity: DiversityField = Field(
        default=None,
        description="Spread the hits (off by default): {'mode': 'mmr', 'lambda': 0.5}, "
        "{'mode': 'collapse', 'field': 'document'}, or 'mmr:0.5' / 'collapse:page'.",
    )
    fair_by: str | None = Field(
        default=None,
        max_length=200,
        description="Group-fair exposure (off by default): the payload field whose values are "
        "the groups, e.g. 'metadata.group'; the top-k follows fair_target's shares.",
    )
    fair_target: Literal["proportional", "equal"] = Field(
        default="proportional",
        description="fair_by's target: each group's share of the candidates, or equal shares.",
    )


class SearchIn(QueryIn):
    """A search by words, a picture (base64 or a data URL), or both."""

    text: str | None = Field(default=None, examples=["a red square"])
    image: str | None = Field(default=None, description="Base64 image bytes or a data: URL.")


class ScoresOut(BaseModel):
    """One score per signal, ``None`` when the item has no such vector or the signal was not
    searched: ``image``/``text``: cosine of the CLIP query to the item's image/text vector;
    ``passage``: cosine of the passage model's query to the item's passage vector; ``lexical``:
    BM25 (IDF-weighted shared terms). ``fused``: the fusion score; ``rerank``: the reranker's
    relevance when it ran."""

    image: float | None
    text: float | None
    passage: float | None = None
    lexical: float | None = None
    fused: float
    rerank: float | None = None


class HitOut(ItemOut):
    """An item found, with its scores."""

    scores: ScoresOut
    highlights: list[list[float]] = Field(default_factory=list)
    """Boxes ``[x0, y0, x1, y1]`` (fractions of the picture at ``image_url``, origin top left)
    of the item's lines that best match the query's words; empty without line boxes."""
    folded: int = 0
    """How many lower hits with the same value ``collapse`` folded into this one."""

    @classmethod
    def of(cls, hit: Hit, base_url: str = "", query: str | None = None) -> HitOut:
        """The public view of a hit: the item, its per-stage scores, and the lines that match
        ``query``."""
        item = ItemOut.from_payload(hit.id, hit.payload, base_url)
        scores = ScoresOut(**hit.scores.as_dict())
        boxes = best_boxes(hit.payload, query)
        return cls(**item.model_dump(), scores=scores, highlights=boxes, folded=hit.folded)


class FairnessOut(BaseModel):
    """What fair exposure did: hits per group in the top-k (``shares``), the target count per
    group (``targets``), and the fused score given up against the plain top-k (``fused_loss``,
    and as a share of the plain top-k's sum, ``fused_loss_ratio``)."""

    field: str
    target: Literal["proportional", "equal"]
    shares: dict[str, int]
    targets: dict[str, float]
    fused_loss: float
    fused_loss_ratio: float


class SearchOut(BaseModel):
    hits: list[HitOut]
    reranked: bool
    rerank_complete: bool = True
    """False when the rerank time budget (MMRAG_RERANK__BUDGET_MS) ran out: the hits after the
    last reranked one kept their fused order and have rerank score null."""
    timings: dict[str, float]
    """Seconds per stage (encode, store, fuse, diversify, rerank)."""
    fairness: FairnessOut | None = None
    """Set when the search asked for fair_by."""

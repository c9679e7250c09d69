"""What a search takes and returns. Every hit keeps the score of every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from PIL import Image

from rag import payload as keys
from rag.signals import Signal
from rag.store.base import Filter

FusionMode = Literal["rrf", "dbsf", "weighted"]
DiversityMode = Literal["mmr", "collapse"]
FairTarget = Literal["proportional", "equal"]
__all__ = [
    "Diversity",
    "FairExposure",
    "FairnessReport",
    "FusionMode",
    "Hit",
    "Query",
    "Scores",
    "SearchResult",
    "Searcher",
    "Signal",
]


@dataclass(frozen=True, slots=True)
class Scores:
    """One score per signal, ``None`` where the item lacks that vector or the signal was not
    searched: ``image``/``text``: cosine of the CLIP query vector to the item's image/text
    vector; ``passage``: cosine of the passage model's query vector to the item's passage
    vector; ``lexical``: the engine's BM25 score (IDF-weighted shared terms; 0 when the item has
    terms but none of the query's). ``fused``: the fusion score that ranked it; ``rerank``: the
    reranker's relevance in [0, 1] when the reranker ran on it."""

    image: float | None
    text: float | None
    fused: float
    rerank: float | None = None
    passage: float | None = None
    lexical: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "image": self.image,
            "text": self.text,
            "passage": self.passage,
            "lexical": self.lexical,
            "fused": self.fused,
            "rerank": self.rerank,
        }


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved item: its point id, payload and per-stage scores."""

    id: str
    payload: dict[str, Any]
    scores: Scores
    folded: int = 0
    """How many lower hits with the same value ``collapse`` folded into this one."""

    @property
    def text(self) -> str:
        return str(self.payload.get(keys.TEXT) or "")

    @property
    def passage_text(self) -> str:
        """The text this point stands for: its chunk's text (``chunk_text``) when it embeds a
        chunk of a longer text, else its ``text``; ``""`` when it has none. What a reranker
        reads and an answer quotes."""
        return str(self.payload.get(keys.CHUNK_TEXT) or self.payload.get(keys.TEXT) or "").strip()

    @property
    def source(self) -> str:
        return str(self.payload.get(keys.SOURCE) or "")

    @property
    def has_image(self) -> bool:
        return bool(self.payload.get(keys.HAS_IMAGE))


@dataclass(frozen=True)
class Diversity:
    """How to spread a search's hits over its fused candidates (:mod:`rag.retrieval.diversity`).

    ``mmr``: maximal marginal relevance, each next hit the one with the best ``lambda_`` x
    relevance - (1 - ``lambda_``) x its highest similarity to the hits already chosen (the
    stored vectors of the dense signals searched); ``lambda_`` 1 is the plain ranking.
    ``collapse``: the best hit per value of the payload ``field`` (``document``, ``page``,
    ``source``, ``duplicate`` or a metadata key such as ``metadata.camera``), each with how
    many it folded.

    Example::

        Diversity("mmr", lambda_=0.5)
        Diversity("collapse", field="document")
    """

    mode: DiversityMode
    lambda_: float = 0.5
    field: str = "document"


@dataclass(frozen=True)
class FairExposure:
    """Group-fair exposure (:mod:`rag.retrieval.fairness`): the top-k re-ordered so that each
    value of the payload ``field`` gets its ``target`` share: ``proportional`` to its share of
    the candidates, or ``equal`` for every group found."""

    field: str
    target: FairTarget = "proportional"


@dataclass(frozen=True)
class FairnessReport:
    """What fair exposure did to one search: items per group in the top-k (``shares``), the
    target count per group (``targets``), and the fused score the re-ordering gave up
    (``fused_loss``: the plain top-k's sum minus the fair top-k's; ``fused_loss_ratio``: that
    over the plain top-k's sum, 0 when the sum is not positive)."""

    field: str
    target: FairTarget
    shares: dict[str, int]
    targets: dict[str, float]
    fused_loss: float
    fused_loss_ratio: float


@dataclass(frozen=True)
class Query:
    """A search or a question: words, a picture, or both, and how to rank.

    ``signals`` chooses among ``image``, ``text``, ``passage`` and ``lexical`` (``None``: every
    signal the collection and settings offer; ``passage``/``lexical`` need words). ``weights``
    maps signals to a weight (a signal left out weighs 0); ``None`` uses settings. ``rerank``
    ``None`` follows settings. ``diversity`` and ``fair`` (both off by default) spread and
    re-order the hits (:class:`Diversity`, :class:`FairExposure`).

    Example::

        Query(text="error E-1042", signals=("passage", "lexical"), fusion="rrf", top_k=5)
    """

    text: str | None = None
    image: Image.Image | None = None
    fusion: FusionMode | None = None
    weights: dict[str, float] | None = None
    top_k: int | None = None
    filter: Filter | None = None
    rerank: bool | None = None
    signals: tuple[Signal, ...] | None = None
    candidates: tuple[str, ...] = ()
    """Point ids ranked with what the search finds even when its lists would not reach them
    (the items an earlier answer of the conversation cited); the filter still applies."""
    diversity: Diversity | None = None
    fair: FairExposure | None = None


@dataclass
class SearchResult:
    """Hits best first, and where the time went (seconds per stage: encode, store, fuse, rerank)."""

    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)
    reranked: bool = False
    rerank_complete: bool = True
    """False when the rerank time budget ran out: hits after the last reranked one kept their
    fused order and have rerank score ``None``."""
    fairness: FairnessReport | None = None
    """What fair exposure did, when the query asked for it."""


@runtime_checkable
class Searcher(Protocol):
    """What the answerer and the LangChain retriever need of a retriever: ``Retriever`` (or
    anything alike)."""

    def search(self, query: Query) -> SearchResult: ...


@dataclass(frozen=True)
class CollectionDefaults:
    """What a collection's searches use when the request leaves it out (``None``: the global
    setting). ``weights`` names a weight per signal; signals it leaves out keep the settings'."""

    fusion: FusionMode | None = None
    weights: dict[str, float] | None = None
    signals: tuple[Signal, ...] | None = None

    @property
    def is_empty(self) -> bool:
        return self.fusion is None and self.weights is None and self.signals is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fusion": self.fusion,
            "weights": self.weights,
            "signals": None if self.signals is None else list(self.signals),
        }

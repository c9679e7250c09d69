"""Grounded chat: a question (and/or a picture) in, an answer with citations out."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.common import RequestModel
from api.schemas.items import DocumentOut, document_out
from api.schemas.search import HitOut, QueryIn, ScoresOut
from api.urls import item_image_url
from rag.answer import Citation
from rag.condense import MAX_CITED
from rag.llm.base import ChatMessage

ItemId = Annotated[UUID, Field(description="An item's id.")]


class TurnIn(RequestModel):
    """An earlier turn of the conversation. An assistant turn may name the items its answer
    cited (``citations[].id`` of that answer): the next question's search takes them as
    candidates."""

    role: Literal["user", "assistant"]
    content: str
    citations: list[ItemId] = Field(default_factory=list, max_length=MAX_CITED)

    def message(self) -> ChatMessage:
        """The turn as the answerer takes it."""
        return ChatMessage(self.role, self.content, cited=tuple(str(c) for c in self.citations))


class GenerationIn(RequestModel):
    """Generation options; unset ones follow the server's settings (``max_tokens`` is capped
    by ``MMRAG_LLM__MAX_TOKENS``)."""

    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)


class ChatIn(QueryIn, GenerationIn):
    """A question about the collection, a picture as the query (base64 or data URL), or both."""

    question: str | None = Field(default=None, examples=["What is on the red mat?"])
    image: str | None = Field(default=None, description="Base64 image bytes or a data: URL.")
    history: list[TurnIn] = Field(default_factory=list, max_length=100)
    stream: bool = Field(default=False, description="Answer as server-sent events.")


class CitationOut(BaseModel):
    """A hit the answer rests on: ``[n]`` in the answer is block ``n``; ``cited`` is false for
    the fallback citation of an answer that cited nothing. Pages, figures and passages carry
    their ``document`` (title, and ``file_url``: the original at ``page``) and ``page``;
    ``image_url`` is then the page render or figure crop."""

    n: int
    id: str
    source: str
    snippet: str
    scores: ScoresOut
    image_url: str | None
    cited: bool = True
    kind: str | None = None
    document: DocumentOut | None = None
    page: int | None = None
    figure: int | None = None
    highlights: list[list[float]] = []
    """The lines that answered: boxes ``[x0, y0, x1, y1]`` as fractions of the picture at
    ``image_url`` (the page render; origin top left), the lines of the cited passage that best
    match the answer's sentences citing it. Empty where the item has no line boxes."""

    @classmethod
    def of(cls, citation: Citation, base_url: str = "") -> CitationOut:
        """The public view of a citation, links built against ``base_url``."""
        data = citation.as_dict()
        data["image_url"] = item_image_url(citation.id, base_url) if citation.has_picture else None
        data["document"] = document_out(citation.payload, base_url)
        return cls(**data)


class GenerationOut(BaseModel):
    """Who wrote the answer and how: the backend and model (``fallback`` when ``auto`` answered
    with a fallback for ``fallback_from``), the token counts (the backend's own, else estimated:
    ``tokens_estimated``), pictures sent, citation markers removed (they named no block), and
    whether the answer cites a block at all."""

    backend: str
    model: str
    fallback: bool = False
    fallback_from: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_estimated: bool = False
    """Whether a token count is mmrag's estimate (the backend gave none): the prompt's covers
    everything sent (system prompt, history, context, question)."""
    images: int = 0
    removed_citations: int = 0
    grounded: bool = True
    cut: bool = False
    """Whether the answer was cut because the model began repeating itself."""


class RetrievalOut(BaseModel):
    """What was searched: ``query`` (the question, or with earlier turns its standalone form)
    and ``method``: ``question`` (no earlier turn), ``off``, ``rules`` (the earlier questions'
    words added) or ``llm`` (the chat model rewrote it); ``fallback`` says why a rewrite was not
    used (``MMRAG_LLM__CONDENSE``)."""

    query: str | None = None
    method: str = "question"
    fallback: str | None = None
    candidates: list[str] = Field(default_factory=list)
    """The items the previous answer cited, ranked with what the search found (``rules`` and
    ``llm``)."""


class ChatOut(BaseModel):
    answer: str
    model: str
    generation: GenerationOut | None = None
    """Null when nothing was found (no model was asked)."""
    citations: list[CitationOut]
    hits: list[HitOut]
    """Every hit retrieval found, best first (the context the model saw is the first ones)."""
    timings: dict[str, float]
    retrieval: RetrievalOut | None = None
    """What was searched and how it was made."""

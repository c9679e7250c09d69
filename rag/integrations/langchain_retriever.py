"""LangChain retrievers over mmrag: in-process (:class:`MmragRetriever`) and over HTTP
(:class:`MmragRemoteRetriever`). Both return the same ``Document`` shape."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, PrivateAttr, SecretStr

from rag import payload as keys
from rag.errors import InvalidInputError
from rag.integrations.langchain_embeddings import image_bytes, open_image
from rag.integrations.langchain_http import MmragHttp
from rag.retrieval.diversity import parse_diversity
from rag.retrieval.filters import parse_filter
from rag.retrieval.types import FairExposure, FairTarget, FusionMode, Hit, Query, Searcher

SEARCH_OPTIONS = (
    "k",
    "fusion",
    "weights",
    "filter",
    "rerank",
    "diversity",
    "fair_by",
    "fair_target",
    "image",
)
"""Keyword arguments ``invoke(query, **options)`` accepts; each overrides the retriever's field
(``image``: a PIL image or file path to search by, alone (``query=""``) or with the words)."""

FilterExpressions = str | list[str] | None
"""mmrag's filter expressions, all must hold: ``"metadata.year>=2020"``, ``["source=a.png"]``
(see :mod:`rag.retrieval.filters`)."""


class MmragRetrieverBase(BaseRetriever):
    """Options and the ``Document`` shape shared by the in-process and the remote retriever.

    Each ``Document`` has ``id`` = the point id, ``page_content`` = the item's text, and
    ``metadata`` = ``{"id", "source", "scores": {"image", "text", "passage", "lexical", "fused",
    "rerank"}, "image_url", "external_id", "metadata", "kind", "document", "page", "figure",
    "folded"}`` (``folded``: how many hits ``collapse`` folded into this one)
    (``image_url`` is ``None`` for a text-only item; ``metadata`` is the item's own metadata).
    Pages, figures and passages of documents have ``document`` = ``{"id", "title", "source",
    "pages", "file_url"}`` (``file_url``: the original at ``page``), ``page`` (1-based) and
    ``image_url`` = the page render or figure crop.
    """

    k: int = Field(default=4, ge=1)
    """How many documents a query returns."""
    fusion: FusionMode | None = None
    """``rrf``, ``dbsf`` or ``weighted``; ``None`` uses the server's setting."""
    weights: dict[str, float] | None = None
    """Weight of the items' ``image``/``text`` vectors (``weighted`` fusion); ``None``: settings."""
    filter: FilterExpressions = None
    """Only items matching these filter expressions, e.g. ``"metadata.colour=red"``."""
    rerank: bool | None = None
    """Run the reranker; ``None`` follows the server's setting."""
    diversity: str | None = None
    """Spread the hits: ``"mmr"``, ``"mmr:0.7"`` (lambda), ``"collapse"`` (best hit per
    document), ``"collapse:page"``, ``"collapse:metadata.camera"``; ``None``: off."""
    fair_by: str | None = None
    """Group-fair exposure by this payload field (e.g. ``"metadata.group"``); ``None``: off."""
    fair_target: FairTarget = "proportional"
    """``fair_by``'s target shares: ``proportional`` to the candidates, or ``equal``."""

    def _options(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(overrides) - set(SEARCH_OPTIONS))
        if unknown:
            raise InvalidInputError(
                f"unknown search option(s) {unknown}: use {', '.join(SEARCH_OPTIONS)}"
            )
        fields = {name: getattr(self, name) for name in SEARCH_OPTIONS if name != "image"}
        options = {**fields, "image": None, **overrides}
        if not isinstance(options["k"], int) or options["k"] < 1:
            raise InvalidInputError(f"k must be a positive integer, got {options['k']!r}")
        return options


class MmragRetriever(MmragRetrieverBase):
    """Searches an mmrag index in this process (``Services(settings).retriever``).

    Example::

        retriever = MmragRetriever(retriever=Services(load_settings()).retriever, k=4)
        docs = retriever.invoke("a red square")          # list[Document], best first
        docs[0].metadata["scores"]["fused"], docs[0].metadata["image_url"]
        retriever.invoke("a red square", k=1, rerank=False)
    """

    retriever: Searcher
    """The mmrag retriever to search with (it is shared, not copied)."""
    image_base_url: str = ""
    """Prefix of image URLs (the API's public URL); empty gives ``/v1/items/{id}/image``."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._options(kwargs)
        flt = options["filter"]
        image = options["image"]
        result = self.retriever.search(
            Query(
                text=query.strip() or None,
                image=None if image is None else open_image(image),
                fusion=options["fusion"],
                weights=options["weights"],
                top_k=options["k"],
                filter=parse_filter([flt] if isinstance(flt, str) else flt) if flt else None,
                rerank=options["rerank"],
                diversity=parse_diversity(options["diversity"]) if options["diversity"] else None,
                fair=FairExposure(options["fair_by"], options["fair_target"])
                if options["fair_by"]
                else None,
            )
        )
        return [hit_document(hit, self.image_base_url) for hit in result.hits[: options["k"]]]


class MmragRemoteRetriever(MmragRetrieverBase):
    """Searches a running mmrag API over HTTP (``POST {url}/v1/search``), sync and async.

    Errors arrive as mmrag exceptions: ``RemoteUnavailableError`` (unreachable, timed out),
    ``RemoteAuthError`` (401/403), and the server's own class (``InvalidInputError``,
    ``StoreError``, ...) for the error codes mmrag defines.

    Example::

        retriever = MmragRemoteRetriever(url="http://localhost:8000", api_key="secret", k=4)
        docs = await retriever.ainvoke("a red square")
        docs[0].metadata["image_url"]  # http://localhost:8000/v1/items/<id>/image
    """

    url: str
    """The API's base URL, e.g. ``http://localhost:8000``."""
    api_key: SecretStr | None = None
    """Sent as ``Authorization: Bearer <key>`` when set."""
    timeout_s: float = Field(default=30.0, gt=0)
    """Read/write timeout of a search."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    _client: MmragHttp | None = PrivateAttr(default=None)

    def _http(self) -> MmragHttp:
        if self._client is None:
            key = self.api_key.get_secret_value() if self.api_key else None
            self._client = MmragHttp(self.url, key, self.timeout_s, self.connect_timeout_s)
        return self._client

    def close(self) -> None:
        """Close the pooled HTTP connection (later calls open a new one)."""
        if self._client is not None:
            self._client.close()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._options(kwargs)
        body = self._http().post_json("/v1/search", search_body(query, options))
        return self._documents(body, options["k"])

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        options = self._options(kwargs)
        body = await self._http().apost_json("/v1/search", search_body(query, options))
        return self._documents(body, options["k"])

    def _documents(self, body: Any, k: int) -> list[Document]:
        hits = body.get("hits") if isinstance(body, dict) else None
        if not isinstance(hits, list):
            raise InvalidInputError(
                f"{self.url}/v1/search answered without a 'hits' list: is it an mmrag API?"
            )
        return [json_hit_document(hit, self.url) for hit in hits[:k]]


def search_body(query: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``POST /v1/search`` (unset options left out, the image as base64)."""
    body: dict[str, Any] = {"text": query.strip() or None, "top_k": options["k"]}
    for name in ("fusion", "weights", "filter", "rerank", "diversity", "fair_by", "fair_target"):
        if options.get(name) is not None:
            body[name] = options[name]
    if options.get("image") is not None:
        body["image"] = base64.b64encode(image_bytes(options["image"])).decode("ascii")
    return body


def hit_document(hit: Hit, image_base_url: str = "") -> Document:
    """A retrieved item as a ``Document`` (the shape :class:`MmragRetrieverBase` describes)."""
    picture = hit.has_image or bool(hit.payload.get(keys.IMAGE_PATH))
    url = _image_url(hit.id, image_base_url) if picture else None
    document = _document_info(hit.payload, image_base_url)
    return _document(hit.id, hit.payload, hit.scores.as_dict(), url, document, hit.folded)


def _image_url(point_id: str, base_url: str) -> str:
    """The API's picture route (this adapter builds its own links: ``rag/`` imports no API)."""
    return f"{base_url.rstrip('/')}/v1/items/{point_id}/image"


def _document_info(payload: Mapping[str, Any], base_url: str) -> dict[str, Any] | None:
    document = payload.get(keys.DOCUMENT)
    if not isinstance(document, dict) or not document.get("id"):
        return None
    url = f"{base_url.rstrip('/')}/v1/documents/{document['id']}/file"
    page = payload.get(keys.PAGE)
    if page and str(document.get("source") or "").lower().endswith(".pdf"):
        url += f"#page={page}"
    return {**document, "file_url": url}


def json_hit_document(hit: Mapping[str, Any], base_url: str) -> Document:
    """A hit of the API's ``/v1/search`` answer as a ``Document``; relative image URLs are made
    absolute against ``base_url``."""
    point_id = str(hit["id"])
    url = _absolute(hit.get("image_url"), base_url)
    fields = (keys.TEXT, keys.SOURCE, keys.EXTERNAL_ID, keys.KIND, keys.PAGE, keys.FIGURE)
    payload = {key: hit.get(key) for key in fields}
    payload[keys.METADATA] = hit.get(keys.METADATA) or {}
    document = hit.get("document")
    if isinstance(document, dict):
        document = {**document, "file_url": _absolute(document.get("file_url"), base_url)}
    folded = int(hit.get("folded") or 0)
    return _document(point_id, payload, dict(hit.get("scores") or {}), url, document, folded)


def _absolute(url: Any, base_url: str) -> str | None:
    if url and str(url).startswith("/"):
        return base_url.rstrip("/") + str(url)
    return str(url) if url else None


def _document(
    point_id: str,
    payload: Mapping[str, Any],
    scores: dict[str, Any],
    image_url: str | None,
    document: dict[str, Any] | None = None,
    folded: int = 0,
) -> Document:
    return Document(
        id=point_id,
        page_content=str(payload.get(keys.TEXT) or ""),
        metadata={
            "id": point_id,
            "source": payload.get(keys.SOURCE) or "",
            "scores": scores,
            "image_url": image_url,
            "external_id": payload.get(keys.EXTERNAL_ID),
            "metadata": dict(payload.get(keys.METADATA) or {}),
            "kind": payload.get(keys.KIND),
            "document": document,
            "page": payload.get(keys.PAGE),
            "figure": payload.get(keys.FIGURE),
            "folded": folded,
        },
    )

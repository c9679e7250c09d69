"""LangChain adapters for mmrag (extra ``langchain``): embeddings, retrievers and a ready RAG chain.

- :class:`ClipEmbeddings`: mmrag's CLIP embedder as ``Embeddings`` (texts and images).
- :class:`MmragRetriever` (in-process) and :class:`MmragRemoteRetriever` (HTTP): ``BaseRetriever``
  returning ``Document``s with the item's text, source, scores and image URL.
- :func:`build_rag_chain`: retriever | prompt | chat model, answering with citations.
- :class:`MmragChatModel`: mmrag's LLM backends (llama.cpp, Ollama, extractive) as a chat model;
  :class:`MmragChatOpenAI`: ``ChatOpenAI`` for mmrag's own endpoint, keeping its citations.
- :data:`QDRANT_PAYLOAD_KEYS`: what ``langchain_qdrant.QdrantVectorStore`` needs to read mmrag's
  collection.

Example::

    from rag.integrations.langchain import MmragRemoteRetriever, build_rag_chain

    retriever = MmragRemoteRetriever(url="http://localhost:8000", k=4)
    chain = build_rag_chain(retriever, ChatOpenAI(base_url="http://localhost:8000/v1", api_key="-"))
    chain.invoke("What colour is the square?")  # {"answer": ..., "citations": [...]}
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rag.integrations.langchain needs LangChain: pip install 'mmrag[langchain]'"
    ) from exc

from rag import payload as _keys
from rag.integrations.langchain_chain import (
    RAG_PROMPT,
    Citation,
    RagOutput,
    build_rag_chain,
    format_context,
)
from rag.integrations.langchain_chat import MmragChatModel, MmragChatOpenAI
from rag.integrations.langchain_embeddings import ClipEmbeddings, ImageInput
from rag.integrations.langchain_http import (
    MmragHttp,
    RemoteAPIError,
    RemoteAuthError,
    RemoteUnavailableError,
)
from rag.integrations.langchain_retriever import (
    MmragRemoteRetriever,
    MmragRetriever,
    MmragRetrieverBase,
    hit_document,
)

QDRANT_PAYLOAD_KEYS: dict[str, str] = {
    "content_payload_key": _keys.TEXT,
    "metadata_payload_key": _keys.METADATA,
}
"""Keyword arguments of ``QdrantVectorStore(...)`` that read mmrag's points: the item's text as
``page_content`` and its own metadata as ``Document.metadata``. Add ``vector_name="text"`` or
``"image"``."""

__all__ = [
    "QDRANT_PAYLOAD_KEYS",
    "RAG_PROMPT",
    "Citation",
    "ClipEmbeddings",
    "ImageInput",
    "MmragChatModel",
    "MmragChatOpenAI",
    "MmragHttp",
    "MmragRemoteRetriever",
    "MmragRetriever",
    "MmragRetrieverBase",
    "RagOutput",
    "RemoteAPIError",
    "RemoteAuthError",
    "RemoteUnavailableError",
    "build_rag_chain",
    "format_context",
    "hit_document",
]

"""LangChain adapters for mmrag (extra ``langchain``): embeddings, retrievers and a ready RAG chain.

Example::

    from rag.integrations.langchain import ClipEmbeddings

    embeddings = ClipEmbeddings(Services(load_settings()).embedder)
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rag.integrations.langchain needs LangChain: pip install 'mmrag[langchain]'"
    ) from exc

from rag.integrations.langchain_embeddings import ClipEmbeddings, ImageInput

__all__ = ["ClipEmbeddings", "ImageInput"]

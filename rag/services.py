"""The composition root: builds each part from :class:`Settings` once, on first use.

Entry points (CLI, API, worker, LangChain in-process adapters) hold one ``Services``; parts that
share a model share the instance.

Example::

    services = Services(load_settings())
    hits = services.retriever.search(Query(text="a red square")).hits
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from rag.config import Settings

if TYPE_CHECKING:
    from rag.answer import Answerer
    from rag.embedding.base import Embedder
    from rag.llm.base import ChatModel
    from rag.retrieval.rerank import Reranker
    from rag.retrieval.retriever import Retriever
    from rag.store.base import VectorStore


class Services:
    """Lazily built, process-wide parts of mmrag for one settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()

    @cached_property
    def embedder(self) -> Embedder:
        from rag.embedding import load_embedder

        with self._lock:
            return load_embedder(self.settings.clip, self.settings.model_cache_dir)

    @cached_property
    def query_embedder(self) -> Embedder:
        """The embedder for search queries: concurrent ones run as one batch
        (``MMRAG_CLIP__QUERY_BATCH``, 0 turns batching off)."""
        from rag.embedding.batching import BatchingEmbedder

        clip = self.settings.clip
        if clip.query_batch == 0:
            return self.embedder
        with self._lock:
            return BatchingEmbedder(self.embedder, clip.query_batch, clip.query_wait_ms / 1000)

    @cached_property
    def store(self) -> VectorStore:
        from rag.store import open_store

        with self._lock:
            store = open_store(self.settings.store, self.settings.data_dir)
            store.ensure_collection(self.embedder.dim)
            return store

    @cached_property
    def reranker(self) -> Reranker | None:
        from rag.retrieval.rerank import build_reranker

        with self._lock:
            return build_reranker(self.settings.rerank, self.settings.model_cache_dir)

    @cached_property
    def retriever(self) -> Retriever:
        from rag.retrieval.retriever import Retriever

        with self._lock:
            return Retriever(
                self.query_embedder, self.store, self.settings.retrieval, self.reranker
            )

    @cached_property
    def chat_model(self) -> ChatModel:
        from rag.llm import build_chat_model

        with self._lock:
            return build_chat_model(self.settings.llm)

    @cached_property
    def answerer(self) -> Answerer:
        from rag.answer import Answerer

        with self._lock:
            return Answerer(self.retriever, self.chat_model, self.settings.llm)

    def close(self) -> None:
        """Stop the query batcher and flush and close the store, where they were built."""
        from rag.embedding.batching import BatchingEmbedder

        batcher = self.__dict__.get("query_embedder")
        if isinstance(batcher, BatchingEmbedder):
            batcher.close()
        store = self.__dict__.get("store")
        if store is not None:
            store.close()

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
    from rag.classify import ZeroShotClassifier
    from rag.embedding.base import Embedder, LexicalEncoder, PassageEncoder
    from rag.llm.base import ChatModel
    from rag.moderation import Moderator
    from rag.ocr import OcrReader
    from rag.retrieval.collection_defaults import DefaultsFile
    from rag.retrieval.rerank import Reranker
    from rag.retrieval.retriever import Retriever
    from rag.store.base import CollectionLayout, VectorStore


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
    def passage_encoder(self) -> PassageEncoder | None:
        """The passage model (``None`` when ``MMRAG_PASSAGE__MODEL=none``)."""
        from rag.embedding.passage import load_passage_encoder

        with self._lock:
            return load_passage_encoder(self.settings.passage, self.settings.model_cache_dir)

    @cached_property
    def lexical_encoder(self) -> LexicalEncoder | None:
        """BM25 terms (``None`` when ``MMRAG_LEXICAL__ENABLED=false``)."""
        from rag.embedding.lexical import BM25Encoder

        return BM25Encoder(self.settings.lexical) if self.settings.lexical.enabled else None

    @cached_property
    def ocr_reader(self) -> OcrReader | None:
        """The OCR engine behind its time-out (``None`` when ``MMRAG_OCR__ENGINE=none`` or
        ``MMRAG_OCR__MODE=off``)."""
        from rag.ocr import OcrReader, load_ocr_engine

        with self._lock:
            engine = load_ocr_engine(self.settings.ocr)
            return None if engine is None else OcrReader(engine, self.settings.ocr.timeout_s)

    @cached_property
    def collection_layout(self) -> CollectionLayout:
        """The vectors this setup writes and searches: CLIP ``image``/``text``, and ``passage``
        and ``lexical`` when their encoders are on. The one place a layout is made."""
        from rag.store.base import CollectionLayout

        passage = self.passage_encoder
        return CollectionLayout.of(
            self.embedder.dim,
            passage_dim=None if passage is None else passage.dim,
            lexical=self.lexical_encoder is not None,
        )

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
            self._ensure_collection(store, self.settings.store.collection)
            return store

    def _ensure_collection(self, store: VectorStore, collection: str) -> None:
        """Create or check ``store``'s collection for :attr:`collection_layout`; a passage size
        other than the passage model's is refused naming both (and the model)."""
        passage = self.passage_encoder
        found = store.collection_layout()
        if passage is not None and found is not None:
            check_passage_size(collection, found, passage.model_id, passage.dim)
        store.ensure_collection(self.collection_layout)

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
                self.query_embedder,
                self.store,
                self.settings.retrieval,
                self.reranker,
                passage_encoder=self.passage_encoder,
                lexical_encoder=self.lexical_encoder,
                defaults=self.collection_defaults,
            )

    @cached_property
    def collection_defaults(self) -> DefaultsFile:
        """The served collection's own search defaults (fusion, weights, signals), shared by
        every tenant (``rag.retrieval.collection_defaults``)."""
        from rag.retrieval.collection_defaults import DefaultsFile

        return DefaultsFile(self.settings.files_dir, self.settings.store.collection)

    @cached_property
    def chat_model(self) -> ChatModel:
        from rag.llm import build_chat_model

        with self._lock:
            return build_chat_model(self.settings.llm)

    @cached_property
    def answerer(self) -> Answerer:
        from rag.answer import Answerer

        with self._lock:
            roots = (self.settings.data_dir, self.settings.files_dir)
            return Answerer(self.retriever, self.chat_model, self.settings.llm, roots)

    STORE_BOUND = ("store", "retriever", "answerer")
    """Parts built on the store: a tenant's view builds these over its own store and shares
    every other part (models) with this one. Add a new store-bound part here."""

    def for_tenant(self, tenant: str | None) -> Services:
        """These services as ``tenant`` sees them: its store reads and writes only that
        tenant's points (:class:`rag.tenancy.TenantStore`); models are shared. ``None``: these."""
        if tenant is None:
            return self
        with self._lock:
            views = self.__dict__.setdefault("_tenant_views", {})
            if tenant not in views:
                views[tenant] = _TenantServices(self, tenant)
            return views[tenant]

    @cached_property
    def terms_key(self) -> bytes:
        """The key of tenants' own lexical term ids (:func:`rag.tenancy.term_key`), kept in the
        files folder that every process of a deployment shares."""
        from rag.tenancy import term_key

        with self._lock:
            return term_key(self.settings.files_dir)

    @cached_property
    def classifier(self) -> ZeroShotClassifier:
        """Zero-shot classification with the configured templates (label vectors cached)."""
        from rag.classify import ZeroShotClassifier

        with self._lock:
            settings = self.settings.classify
            return ZeroShotClassifier(self.embedder, settings.templates, settings.max_labels)

    @cached_property
    def moderator(self) -> Moderator:
        """Image moderation over the configured categories (category vectors computed once)."""
        from rag.moderation import Moderator

        with self._lock:
            return Moderator(
                self.embedder, self.settings.moderation, self.settings.classify.templates
            )

    def store_for(self, collection: str | None) -> VectorStore:
        """The store of ``collection`` (``None`` or the configured one: :attr:`store`), opened
        and created on first use, then kept open until :meth:`close`."""
        if collection in (None, self.settings.store.collection):
            return self.store
        with self._lock:
            stores = self.__dict__.setdefault("_collection_stores", {})
            if collection not in stores:
                from rag.store import open_store

                store = open_store(self.settings.store, self.settings.data_dir, collection)
                self._ensure_collection(store, collection)
                stores[collection] = store
            return stores[collection]

    def close(self) -> None:
        """Stop the query batcher and flush and close the stores that were opened."""
        from rag.embedding.batching import BatchingEmbedder

        batcher = self.__dict__.get("query_embedder")
        if isinstance(batcher, BatchingEmbedder):
            batcher.close()
        stores = [self.__dict__.get("store"), *self.__dict__.get("_collection_stores", {}).values()]
        self.__dict__.pop("_collection_stores", None)
        for store in stores:
            if store is not None:
                store.close()


class _TenantServices(Services):
    """A tenant's view of a parent :class:`Services`: its own store-bound parts, the parent's
    models (every other part is read from the parent, built there once)."""

    def __init__(self, parent: Services, tenant: str) -> None:
        super().__init__(parent.settings)
        self.parent = parent
        self.tenant = tenant

    @cached_property
    def store(self) -> VectorStore:
        from rag.tenancy import TenantStore

        return TenantStore(self.parent.store, self.tenant, self.parent.terms_key)

    def for_tenant(self, tenant: str | None) -> Services:
        return self.parent.for_tenant(tenant)

    def store_for(self, collection: str | None) -> VectorStore:
        from rag.tenancy import TenantStore

        return TenantStore(self.parent.store_for(collection), self.tenant, self.parent.terms_key)

    def close(self) -> None:
        """Nothing: the parent owns the store and models."""


def check_passage_size(collection: str, found: CollectionLayout, model: str, dim: int) -> None:
    """Raise ``CollectionMismatchError`` when ``found`` holds passage vectors of another size
    than ``dim``, the size of the passage model ``model``."""
    from rag.errors import CollectionMismatchError
    from rag.signals import PASSAGE

    stored = found.dense.get(PASSAGE)
    if stored is None or stored == dim:
        return
    raise CollectionMismatchError(
        f"collection {collection!r} holds passage vectors of size {stored}, but the passage "
        f"model {model} gives vectors of size {dim}: set MMRAG_PASSAGE__MODEL (and "
        "MMRAG_PASSAGE__BACKEND) back to the model that made the collection, use another "
        "MMRAG_STORE__COLLECTION, or delete the collection and ingest again"
    )


def _from_parent(name: str) -> property:
    return property(lambda self: getattr(self.parent, name))


for _name, _part in list(vars(Services).items()):
    if isinstance(_part, cached_property) and _name not in Services.STORE_BOUND:
        setattr(_TenantServices, _name, _from_parent(_name))

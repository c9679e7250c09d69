"""The vector store: one :class:`VectorStore` seam, two engines chosen by ``MMRAG_STORE__URL``.

================  ==========================================================================
``url``           engine
================  ==========================================================================
empty (default)   :class:`EdgeStore`: embedded Qdrant Edge at ``<data_dir>/qdrant-edge/<coll>``
``:memory:``      :class:`QdrantClientStore`: qdrant-client local mode, in memory
``path:/dir``     :class:`QdrantClientStore`: qdrant-client local mode, on disk at ``/dir``
``http(s)://…``   :class:`QdrantClientStore`: a Qdrant server or cluster
================  ==========================================================================

Example::

    store = open_store(settings.store, settings.data_dir)
    store.ensure_collection(CollectionLayout.of(embedder.dim, passage_dim=384, lexical=True))
    found = store.candidates({"image": q, "text": q}, limit=50)  # rag.store.candidates
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import StoreSettings
from rag.errors import ConfigError, StoreError
from rag.store.base import (
    IMAGE,
    INDEXED_PAYLOAD_FIELDS,
    LEXICAL,
    PASSAGE,
    SIGNALS,
    TEXT,
    VECTOR_NAMES,
    CollectionLayout,
    Condition,
    DatetimeRange,
    Filter,
    HasId,
    MatchAny,
    MatchValue,
    PointRecord,
    QueryVector,
    Range,
    StoredPoint,
    VectorStorage,
    VectorStore,
)
from rag.store.candidates import Candidates

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

__all__ = [
    "IMAGE",
    "INDEXED_PAYLOAD_FIELDS",
    "LEXICAL",
    "PASSAGE",
    "SIGNALS",
    "TEXT",
    "VECTOR_NAMES",
    "Candidates",
    "CollectionLayout",
    "Condition",
    "DatetimeRange",
    "Filter",
    "HasId",
    "MatchAny",
    "MatchValue",
    "PointRecord",
    "QueryVector",
    "Range",
    "StoredPoint",
    "VectorStorage",
    "VectorStore",
    "edge_path",
    "open_store",
]

EDGE_DIR = "qdrant-edge"


def edge_path(data_dir: Path, collection: str) -> Path:
    """Where the embedded engine keeps ``collection``."""
    return Path(data_dir) / EDGE_DIR / collection


def open_store(
    settings: StoreSettings, data_dir: Path, collection: str | None = None
) -> VectorStore:
    """The store for ``collection`` (default ``settings.collection``), engine chosen by
    ``settings.url``. Cheap: the collection is created by ``ensure_collection``."""
    name = collection or settings.collection
    url = settings.url.strip()
    if not url:
        from rag.store.edge import EdgeStore

        return EdgeStore(
            edge_path(data_dir, name),
            name,
            settings.min_free_mb * 2**20,
            vector_storage(settings),
            vector_copy_max_points=settings.vector_copy_max_points,
            exact_scan_max_points=settings.exact_scan_max_points,
        )
    from rag.store.client import QdrantClientStore

    return QdrantClientStore(
        _client(url, settings),
        name,
        local=not url.startswith("http"),
        shards=settings.shards,
        replication_factor=settings.replication_factor,
        write_consistency_factor=settings.write_consistency_factor,
        storage=vector_storage(settings),
    )


def vector_storage(settings: StoreSettings) -> VectorStorage:
    """The storage of new collections that ``settings`` ask for."""
    return VectorStorage(
        settings.quantization, settings.on_disk, settings.oversampling, settings.hnsw_ef
    )


def _client(url: str, settings: StoreSettings) -> QdrantClient:
    from qdrant_client import QdrantClient

    try:
        if url == ":memory:":
            return QdrantClient(location=":memory:")
        if url.startswith("path:"):
            folder = Path(url.removeprefix("path:")).expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            return QdrantClient(path=str(folder), force_disable_check_same_thread=True)
    except RuntimeError as exc:  # portalocker: another process holds the folder
        raise StoreError(
            f"{exc} Stop the other process, or use a Qdrant server (MMRAG_STORE__URL=http://…)."
        ) from exc
    if url.startswith(("http://", "https://")):
        return QdrantClient(
            url=url,
            api_key=settings.api_key or None,
            timeout=math.ceil(settings.timeout_s),
            check_compatibility=False,
        )
    raise ConfigError(
        f"MMRAG_STORE__URL={url!r} is not understood: leave it empty (embedded Qdrant Edge), or "
        "use ':memory:', 'path:/some/dir' or 'http(s)://host:6333'"
    )

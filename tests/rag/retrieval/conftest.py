"""Retrieval fixtures: a labelled corpus in a real store (both engines), tiny real rerankers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from rag.config import RerankSettings, RetrievalSettings, StoreSettings
from rag.embedding.base import Embedder
from rag.identity import point_id
from rag.retrieval.retriever import Retriever
from rag.store import CollectionLayout, PointRecord, VectorStore, open_store
from rag.testing.tiny_rerankers import build_tiny_cross_encoder, build_tiny_qwen3

COLLECTION = "retrieval"
COLORS = ("red", "blue", "green", "yellow")
N_ITEMS = 60


@dataclass(frozen=True)
class Item:
    """One corpus item as written, so tests can compute the expected answers themselves."""

    id: str
    external_id: str
    vectors: dict[str, np.ndarray]
    payload: dict[str, object]


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    vector = rng.standard_normal(dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def make_corpus(dim: int, n: int = N_ITEMS, seed: int = 7) -> list[Item]:
    """``n`` items: every 6th image-only, every 7th text-only, payloads with filterable fields."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        kinds = ("image",) if i % 6 == 1 else ("text",) if i % 7 == 2 else ("image", "text")
        color = COLORS[i % len(COLORS)]
        external = f"item-{i}"
        payload = {
            "text": f"a {color} thing number {i}" if "text" in kinds else None,
            "source": f"set{i % 3}/{external}.png",
            "external_id": external,
            "has_image": "image" in kinds,
            "has_text": "text" in kinds,
            "metadata": {"year": 2000 + i % 25, "color": color},
            "ingested_at": f"2024-{1 + i % 12:02d}-15T12:00:00+00:00",
        }
        vectors = {kind: _unit(rng, dim) for kind in kinds}
        items.append(Item(point_id(COLLECTION, f"id:{external}"), external, vectors, payload))
    return items


@pytest.fixture(scope="session")
def corpus(tiny_embedder: Embedder) -> list[Item]:
    return make_corpus(tiny_embedder.dim)


@pytest.fixture
def filled_store(
    store_settings: StoreSettings, tmp_path: Path, corpus: list[Item], tiny_embedder: Embedder
) -> Iterator[VectorStore]:
    """The corpus in the engine under test (Qdrant Edge, then qdrant-client local mode)."""
    store = open_store(store_settings, tmp_path / "data", COLLECTION)
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
    store.upsert([PointRecord(item.id, item.vectors, item.payload) for item in corpus])
    yield store
    store.close()


@pytest.fixture
def retriever(filled_store: VectorStore, tiny_embedder: Embedder) -> Retriever:
    settings = RetrievalSettings(prefetch_limit=12, top_k=10)
    return Retriever(tiny_embedder, filled_store, settings)


@pytest.fixture(scope="session")
def qwen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Qwen3ForCausalLM with a local byte-level BPE tokenizer."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-qwen3-reranker")
    return build_tiny_qwen3(folder, RerankSettings().instruction)


@pytest.fixture(scope="session")
def cross_encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture
def cli_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: list[Item], tiny_embedder: Embedder
) -> Path:
    """Environment of a user whose embedded collection holds the corpus; no reranker."""
    data = tmp_path / "data"
    store = open_store(StoreSettings(collection=COLLECTION), data)
    store.ensure_collection(CollectionLayout.of(tiny_embedder.dim))
    store.upsert([PointRecord(item.id, item.vectors, item.payload) for item in corpus])
    store.close()
    env = {
        "MMRAG_DATA_DIR": str(data),
        "MMRAG_STORE__COLLECTION": COLLECTION,
        "MMRAG_CLIP__MODEL": "mmrag-tiny",
        "MMRAG_CLIP__PRETRAINED": "",
        "MMRAG_CLIP__THREADS": "1",
        "MMRAG_RERANK__MODEL": "none",
        "MMRAG_PASSAGE__MODEL": "none",
        "MMRAG_LEXICAL__ENABLED": "false",
        "MMRAG_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmp_path

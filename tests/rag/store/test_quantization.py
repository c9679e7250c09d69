"""Vector storage settings on real Qdrant Edge shards: int8 quantization with rescoring, original
vectors on disk, and what an existing collection does when the settings change."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.config import StoreSettings
from rag.store import CollectionLayout, PointRecord, VectorStorage, open_store
from rag.store.edge import CONFIG_FILE, EdgeStore

from .helpers import LAYOUT, make_id, search

QUANTIZED = VectorStorage("int8", on_disk=True)
INDEXED_DIM = 512
INDEXED_POINTS = 5000
"""Edge quantizes a segment when ``optimize`` indexes it, from about 10 MB of vectors on."""


def structured_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit vectors near a random 16-d subspace (neighbours are well defined, as in embeddings)."""
    basis = np.random.default_rng(99).standard_normal((16, INDEXED_DIM))
    rows = rng.standard_normal((n, 16)) @ basis + 1.5 * rng.standard_normal((n, INDEXED_DIM))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def config_of(store: EdgeStore) -> dict:
    return json.loads((store.path / CONFIG_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EdgeStore, np.ndarray]]:
    """An optimized int8 collection of ``INDEXED_POINTS`` and its vectors (id = make_id(row))."""
    rows = structured_rows(np.random.default_rng(0), INDEXED_POINTS)
    store = EdgeStore(tmp_path_factory.mktemp("int8") / "shard", "int8", storage=QUANTIZED)
    store.ensure_collection(CollectionLayout({"image": INDEXED_DIM}))
    store.upsert([PointRecord(make_id(i), {"image": row}) for i, row in enumerate(rows)])
    assert store.optimize()
    yield store, rows
    store.close()


def exact_ids(rows: np.ndarray, query: np.ndarray, k: int) -> list[str]:
    return [make_id(int(i)) for i in np.argsort(-(rows @ query))[:k]]


def test_settings_reach_the_shard_config(tmp_path: Path) -> None:
    settings = StoreSettings(quantization="int8", on_disk=True, oversampling=3.0)
    store = open_store(settings, tmp_path)
    assert isinstance(store, EdgeStore)
    store.ensure_collection(LAYOUT)
    config = config_of(store)
    assert config["quantization_config"] == {
        "scalar": {"type": "int8", "quantile": 0.99, "memory": "pinned"}
    }
    assert {v["memory"] for v in config["vectors"].values()} == {"cold"}
    assert config["payload_memory"] == "cold"
    assert store.stored_quantization() == "int8"
    assert store.storage == VectorStorage("int8", True, 3.0)
    params = store._search_params()
    assert params is not None and params.quantization is not None
    assert params.quantization.rescore and params.quantization.oversampling == 3.0
    store.close()


def test_default_settings_store_float_vectors_and_cache_payloads(tmp_path: Path) -> None:
    store = open_store(StoreSettings(), tmp_path)
    assert isinstance(store, EdgeStore)
    store.ensure_collection(LAYOUT)
    config = config_of(store)
    assert "quantization_config" not in config
    assert all("memory" not in v for v in config["vectors"].values())
    assert config["payload_memory"] == "cached"  # read into memory when it opens
    assert store.stored_quantization() == "none"
    store.close()


def test_int8_search_finds_the_exact_top_hits(indexed: tuple[EdgeStore, np.ndarray]) -> None:
    store, rows = indexed
    quantized = list(store.path.glob("segments/*/vector_storage-image/quantized.data"))
    assert quantized, "optimize built no int8 codes: the search below would not use them"
    queries = structured_rows(np.random.default_rng(1), 20)
    recalls = []
    for query in queries:
        hits = [pid for pid, _ in search(store, "image", query, 10)]
        assert hits[:3] == exact_ids(rows, query, 3)
        recalls.append(len(set(hits) & set(exact_ids(rows, query, 10))) / 10)
    assert np.mean(recalls) >= 0.95


def test_exact_scores_on_int8_score_the_original_vectors(
    indexed: tuple[EdgeStore, np.ndarray],
) -> None:
    store, rows = indexed
    query = structured_rows(np.random.default_rng(2), 1)[0]
    chosen = list(range(0, len(rows), 7))
    scores = store._scores_of([make_id(i) for i in chosen], {"image": query})["image"]
    assert scores == pytest.approx({make_id(i): float(rows[i] @ query) for i in chosen}, abs=1e-5)


def test_existing_collection_keeps_its_quantization_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = open_store(StoreSettings(), tmp_path)
    first.ensure_collection(LAYOUT)
    first.close()
    reopened = open_store(StoreSettings(quantization="int8", on_disk=True), tmp_path)
    assert isinstance(reopened, EdgeStore)
    with caplog.at_level(logging.WARNING, logger="rag.store.edge"):
        reopened.ensure_collection(LAYOUT)
    assert "keeps its none quantization" in caplog.text
    assert "MMRAG_STORE__QUANTIZATION=int8" in caplog.text
    assert reopened.stored_quantization() == "none"
    assert "quantization_config" not in config_of(reopened)
    assert reopened._search_params() is None  # searches as the collection is: float vectors
    reopened.close()


def test_int8_collection_opened_with_default_settings_stays_int8(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = open_store(StoreSettings(quantization="int8"), tmp_path)
    first.ensure_collection(LAYOUT)
    first.close()
    reopened = open_store(StoreSettings(), tmp_path)
    assert isinstance(reopened, EdgeStore)
    with caplog.at_level(logging.WARNING, logger="rag.store.edge"):
        reopened.ensure_collection(LAYOUT)
    assert "keeps its int8 quantization" in caplog.text
    assert reopened.stored_quantization() == "int8"
    params = reopened._search_params()
    assert params is not None and params.quantization is not None
    assert params.quantization.rescore
    reopened.close()


def test_hnsw_ef_reaches_the_search_params_of_an_existing_collection(tmp_path: Path) -> None:
    first = open_store(StoreSettings(), tmp_path)
    first.ensure_collection(LAYOUT)
    first.close()
    store = open_store(StoreSettings(hnsw_ef=64), tmp_path)
    assert isinstance(store, EdgeStore)
    store.ensure_collection(LAYOUT)
    params = store._search_params()
    assert params is not None and params.hnsw_ef == 64 and params.quantization is None
    store.close()


def test_server_store_sends_the_same_search_params() -> None:
    from qdrant_client import QdrantClient

    from rag.store.client import QdrantClientStore

    storage = VectorStorage("int8", on_disk=True, oversampling=3.0, hnsw_ef=64)
    store = QdrantClientStore(QdrantClient(url="http://127.0.0.1:9"), "c", False, storage=storage)
    params = store._search_params()
    assert params is not None and params.hnsw_ef == 64
    assert params.quantization is not None
    assert params.quantization.rescore and params.quantization.oversampling == 3.0
    exact = store._search_params(exact=True)
    assert exact is not None and exact.exact and exact.quantization is not None
    assert exact.quantization.ignore
    store.close()

"""Choosing the engine from settings, persistence across restarts, and exclusive on-disk folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import StoreSettings
from rag.errors import CollectionMismatchError, ConfigError, StoreError
from rag.store import INDEXED_PAYLOAD_FIELDS, CollectionLayout, VectorStore, edge_path, open_store
from rag.store.client import QdrantClientStore
from rag.store.edge import EdgeStore

from .helpers import DIM, LAYOUT, random_points


def disk_settings(kind: str, tmp_path: Path) -> StoreSettings:
    return StoreSettings(url="" if kind == "edge" else f"path:{tmp_path / 'local-qdrant'}")


def test_engine_follows_url(tmp_path: Path) -> None:
    edge = open_store(StoreSettings(), tmp_path)
    assert isinstance(edge, EdgeStore) and edge.collection == "mmrag"
    assert edge.path == edge_path(tmp_path, "mmrag") == tmp_path / "qdrant-edge" / "mmrag"
    local = open_store(StoreSettings(url=":memory:", collection="other"), tmp_path)
    assert isinstance(local, QdrantClientStore) and local.collection == "other" and local.local
    remote = open_store(StoreSettings(url="https://localhost:1", api_key="k"), tmp_path, "c")
    assert isinstance(remote, QdrantClientStore) and not remote.local and remote.collection == "c"
    for store in (edge, local, remote):
        store.close()


def test_unknown_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MMRAG_STORE__URL"):
        open_store(StoreSettings(url="qdrant.example.com"), tmp_path)


def test_unreachable_server_is_a_store_error(tmp_path: Path) -> None:
    store = open_store(StoreSettings(url="http://127.0.0.1:9", timeout_s=1), tmp_path)
    with pytest.raises(StoreError):
        store.collection_dim()


def test_edge_creates_folder_on_demand(tmp_path: Path) -> None:
    store = open_store(StoreSettings(), tmp_path)
    assert not store.path.exists()  # type: ignore[attr-defined]
    store.ensure_collection(LAYOUT)
    assert (tmp_path / "qdrant-edge" / "mmrag" / "edge_config.json").exists()
    store.close()


@pytest.mark.parametrize("kind", ["edge", "path"])
def test_points_survive_restart(kind: str, tmp_path: Path) -> None:
    settings = disk_settings(kind, tmp_path)
    points = random_points(30)
    store = open_store(settings, tmp_path)
    store.ensure_collection(LAYOUT)
    store.upsert(points)
    store.delete([points[0].id])
    store.flush()
    store.close()

    reopened: VectorStore = open_store(settings, tmp_path)
    assert reopened.collection_dim() == DIM
    assert reopened.count() == 29
    reopened.ensure_collection(LAYOUT)
    (got,) = reopened.get([points[3].id], with_vectors=True)
    assert got.payload == points[3].payload and set(got.vectors) == set(points[3].vectors)
    with pytest.raises(CollectionMismatchError):
        reopened.ensure_collection(CollectionLayout.of(DIM * 2))
    reopened.close()


@pytest.mark.parametrize("kind", ["edge", "path"])
def test_folder_is_held_by_one_store(kind: str, tmp_path: Path) -> None:
    settings = disk_settings(kind, tmp_path)
    first = open_store(settings, tmp_path)
    first.ensure_collection(LAYOUT)
    with pytest.raises(StoreError, match="another"):
        second = open_store(settings, tmp_path)
        second.ensure_collection(LAYOUT)
    first.close()
    again = open_store(settings, tmp_path)
    assert again.count() == 0
    again.close()


def test_collections_are_independent(tmp_path: Path) -> None:
    one = open_store(StoreSettings(), tmp_path, "one")
    two = open_store(StoreSettings(), tmp_path, "two")
    one.ensure_collection(LAYOUT)
    two.ensure_collection(CollectionLayout.of(DIM * 2))
    one.upsert(random_points(3))
    assert (one.count(), two.count(), two.collection_dim()) == (3, 0, DIM * 2)
    one.close()
    two.close()


def test_edge_indexes_payload_fields_and_refuses_use_after_close(tmp_path: Path) -> None:
    store = open_store(StoreSettings(), tmp_path)
    assert isinstance(store, EdgeStore)
    store.ensure_collection(LAYOUT)
    schema = store._require_shard().info().payload_schema
    assert set(INDEXED_PAYLOAD_FIELDS) <= set(schema)
    store.upsert(random_points(3))
    assert store.optimize() in (True, False)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count()

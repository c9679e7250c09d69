"""A server or cluster collection is created with the configured shards, replication and write
consistency; a collection another process created at the same moment is not an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from rag.config import StoreSettings
from rag.store import CollectionLayout, open_store
from rag.store.client import QdrantClientStore

from .helpers import DIM


def test_settings_reach_the_created_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = StoreSettings(
        url="http://127.0.0.1:1", shards=6, replication_factor=2, write_consistency_factor=2
    )
    store = open_store(settings, tmp_path)
    assert isinstance(store, QdrantClientStore)
    local = QdrantClient(location=":memory:")  # stands in for the server: records the call
    calls: list[dict[str, Any]] = []
    real_create = local.create_collection

    def create(name: str, **kwargs: Any) -> bool:
        calls.append(kwargs)
        layout = ("shard_number", "replication_factor", "write_consistency_factor")
        return real_create(name, **{k: v for k, v in kwargs.items() if k not in layout})

    monkeypatch.setattr(local, "create_collection", create)
    store.client = local
    store.ensure_collection(CollectionLayout.of(DIM))
    assert [
        (c["shard_number"], c["replication_factor"], c["write_consistency_factor"]) for c in calls
    ] == [(6, 2, 2)]


def test_creating_a_collection_another_process_just_created_is_fine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = QdrantClient(location=":memory:")
    first = QdrantClientStore(client, "shared", local=True)
    second = QdrantClientStore(client, "shared", local=True)
    real_layout = second._stored_layout
    before = [None]  # second's first look comes before first creates the collection
    monkeypatch.setattr(second, "_stored_layout", lambda: before.pop() if before else real_layout())
    first.ensure_collection(CollectionLayout.of(DIM))
    second.ensure_collection(CollectionLayout.of(DIM))
    assert second.collection_dim() == DIM

"""``/v1/items/{id}`` (read, picture, delete) and ``/v1/stats``."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from rag.services import Services
from rag.store.base import PointRecord
from tests.api.conftest import add_item


def test_get_item_and_its_picture(client: TestClient, services: Services, tmp_path: Path) -> None:
    item_id = add_item(services, tmp_path, "a green leaf", (0, 200, 0), {"kind": "plant"})
    body = client.get(f"/v1/items/{item_id}").json()
    assert body["text"] == "a green leaf"
    assert body["metadata"] == {"kind": "plant"}
    assert body["image_url"] == f"/v1/items/{item_id}/image"
    assert "image_path" not in body
    picture = client.get(body["image_url"])
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    assert picture.content[:4] == b"\x89PNG"


def test_text_only_item_has_no_picture(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    item_id = add_item(services, tmp_path, "only words here")
    assert client.get(f"/v1/items/{item_id}").json()["image_url"] is None
    response = client.get(f"/v1/items/{item_id}/image")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    assert client.get(f"/v1/items/{uuid.uuid4()}").status_code == 404
    response = client.get("/v1/items/not-a-uuid")
    assert response.status_code == 422
    assert "item_id" in response.json()["message"]


def test_delete_item(client: TestClient, services: Services, tmp_path: Path) -> None:
    item_id = add_item(services, tmp_path, "to be removed")
    response = client.delete(f"/v1/items/{item_id}")
    assert response.json() == {"id": item_id, "deleted": True, "points": 1}
    assert client.get(f"/v1/items/{item_id}").status_code == 404
    assert client.delete(f"/v1/items/{item_id}").status_code == 404


def test_stats_counts_items(client: TestClient, services: Services, tmp_path: Path) -> None:
    before = client.get("/v1/stats").json()
    add_item(services, tmp_path, "a blue sky", (0, 0, 255))
    after = client.get("/v1/stats").json()
    assert after["points"] == before["points"] + 1
    assert after["with_image"] == before["with_image"] + 1
    assert after["store"] == "edge"
    assert after["embedder"].startswith("mmrag-tiny")


def test_delete_removes_every_chunk(client: TestClient, services: Services, tmp_path: Path) -> None:
    item_id = add_item(services, tmp_path, "first chunk of a long text")
    first = services.store.get([item_id], with_vectors=True)[0]
    other = str(uuid.uuid4())
    payload = {**first.payload, "chunk_index": 1, "chunk_count": 2}
    services.store.upsert([PointRecord(other, first.vectors, payload)])
    assert client.delete(f"/v1/items/{item_id}").status_code == 200
    assert client.get(f"/v1/items/{other}").status_code == 404

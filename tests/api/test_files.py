"""Item pictures are served only as regular files under allowed folders, checked at serve time."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient

from ingest.runner import ingest_paths
from rag import payload as keys
from rag.services import Services
from rag.store.base import Filter, MatchValue, PointRecord
from tests.api.conftest import add_item, png_bytes


def _item_of(services: Services, source: str) -> str:
    flt = Filter(must=(MatchValue(keys.SOURCE, source),))
    (point,), _ = services.store.scroll(flt, limit=2)
    return point.id


def test_a_picture_swapped_for_a_symlink_is_not_served(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.png").write_bytes(png_bytes((10, 20, 30)))
    ingest_paths(services, [folder])
    item_id = _item_of(services, "cat.png")
    assert client.get(f"/v1/items/{item_id}/image").status_code == 200

    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes((1, 2, 3)) + b"SECRET")
    (folder / "cat.png").unlink()
    os.symlink(secret, folder / "cat.png")
    report = ingest_paths(services, [folder])  # the item fails, its old point stays
    assert report.failed == 1 and _item_of(services, "cat.png") == item_id
    response = client.get(f"/v1/items/{item_id}/image")
    assert response.status_code == 404 and b"SECRET" not in response.content


def test_a_path_outside_the_allowed_folders_is_not_served(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    (tmp_path / "root").mkdir()
    item_id = add_item(services, tmp_path / "root", "a red square", (200, 0, 0))
    (point,) = services.store.get([item_id], with_vectors=True)
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    payload = {**point.payload, keys.IMAGE_PATH: str(outside.resolve())}
    services.store.upsert([PointRecord(item_id, point.vectors, payload)])
    assert client.get(f"/v1/items/{item_id}/image").status_code == 404


def test_a_fifo_is_not_served(client: TestClient, services: Services, tmp_path: Path) -> None:
    item_id = add_item(services, tmp_path, "a pipe", (0, 0, 200))
    (point,) = services.store.get([item_id])
    path = Path(point.payload[keys.IMAGE_PATH])
    path.unlink()
    os.mkfifo(path)
    assert client.get(f"/v1/items/{item_id}/image").status_code == 404

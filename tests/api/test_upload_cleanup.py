"""Staged uploads go when nothing needs them: a cancelled job's, a deleted item's."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from ingest.uploads import uploads_dir
from rag.services import Services
from tests.api.conftest import png_bytes


def _upload(client: TestClient, color: tuple[int, int, int], text: str) -> str:
    image = base64.b64encode(png_bytes(color)).decode()
    response = client.post("/v1/ingest", json={"items": [{"image": image, "text": text}]})
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _wait(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/ingest/{job_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return job


def test_a_cancelled_queued_job_leaves_no_upload(make_settings, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", api={"embedded_worker": False})
    with TestClient(create_app(settings)) as client:
        job_id = _upload(client, (1, 2, 3), "never ingested")
        assert len(list(uploads_dir(settings.data_dir).iterdir())) == 1
        assert client.delete(f"/v1/ingest/{job_id}").json()["state"] == "cancelled"
        assert list(uploads_dir(settings.data_dir).iterdir()) == []


def test_deleting_items_deletes_their_upload_once_unused(
    client: TestClient, services: Services
) -> None:
    first = _upload(client, (4, 5, 6), "the same picture, first caption")
    second = _upload(client, (4, 5, 6), "the same picture, second caption")
    assert _wait(client, first)["state"] == _wait(client, second)["state"] == "done"
    folder = uploads_dir(services.settings.data_dir)
    hits = client.post("/v1/search", json={"text": "the same picture", "top_k": 100}).json()
    ids = [h["id"] for h in hits["hits"] if "the same picture" in h["text"]]
    assert len(ids) == 2
    staged = {p.name for p in folder.iterdir()}
    client.delete(f"/v1/items/{ids[0]}")
    assert {p.name for p in folder.iterdir()} == staged  # the other item still needs it
    client.delete(f"/v1/items/{ids[1]}")
    assert len({p.name for p in folder.iterdir()}) == len(staged) - 1

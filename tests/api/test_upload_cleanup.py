"""Stored files go when nothing needs them: a cancelled or failed job's uploads and page
renders, a deleted item's or document's; never a file another tenant's job still needs; and a
``.part`` file a killed process left goes at the next start."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.jobs import job_queue
from api.main import create_app
from ingest.documents.pictures import pictures_dir
from ingest.uploads import uploads_dir
from ingest.worker import IngestWorker
from rag.config import Settings
from rag.services import Services
from tests.api.conftest import png_bytes
from tests.ingest.documents_draw import write_pdf


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted."""
    return sorted(path for path in folder.rglob("*") if path.is_file())


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
        assert len(_files(uploads_dir(settings.data_dir))) == 1
        assert client.delete(f"/v1/ingest/{job_id}").json()["state"] == "cancelled"
        assert _files(uploads_dir(settings.data_dir)) == []


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
    staged = _files(folder)
    client.delete(f"/v1/items/{ids[0]}")
    assert _files(folder) == staged  # the other item still needs it
    client.delete(f"/v1/items/{ids[1]}")
    assert len(_files(folder)) == len(staged) - 1


A, B = "key-of-tenant-a", "key-of-tenant-b"


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_tenants_delete_leaves_another_tenants_queued_job_its_upload(
    make_settings, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{A} tenant-a write\n{B} tenant-b write\n")
    settings = make_settings(tmp_path / "data", api_keys_file=keys, api={"embedded_worker": False})
    image = base64.b64encode(png_bytes((31, 41, 59))).decode()
    with TestClient(create_app(settings)) as client:
        worker = IngestWorker(client.app.state.services, job_queue(client.app))  # type: ignore[attr-defined]
        body = {"items": [{"image": image, "text": "the same bytes, tenant A"}]}
        a_job = client.post("/v1/ingest", json=body, headers=_as(A)).json()["job_id"]
        assert worker.run_once() == a_job
        body = {"items": [{"image": image, "text": "the same bytes, tenant B"}]}
        b_job = client.post("/v1/ingest", json=body, headers=_as(B)).json()["job_id"]
        listed = client.get("/v1/items", headers=_as(A)).json()["items"]
        (a_item,) = [item["id"] for item in listed]
        assert client.delete(f"/v1/items/{a_item}", headers=_as(A)).status_code == 200
        assert worker.run_once() == b_job  # B's job runs after A's delete
        job = client.get(f"/v1/ingest/{b_job}", headers=_as(B)).json()
        assert job["state"] == "done" and job["progress"]["written"] == 1, job
        (b_item,) = client.get("/v1/items", headers=_as(B)).json()["items"]
        assert client.get(f"/v1/items/{b_item['id']}/image", headers=_as(B)).status_code == 200
        assert len(_files(uploads_dir(settings.data_dir))) == 1  # B's; A's went with its item


def _stored(settings: Settings) -> list[Path]:
    """The staged uploads and page renders on disk."""
    return _files(uploads_dir(settings.data_dir)) + _files(pictures_dir(settings.data_dir))


def _upload_pdf(client: TestClient, folder: Path) -> str:
    pdf = write_pdf(folder / "manual.pdf").read_bytes()
    files = [("files", ("manual.pdf", pdf, "application/pdf"))]
    response = client.post("/v1/ingest", files=files)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def test_deleting_a_document_deletes_its_original_and_renders(
    make_settings, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        assert _wait(client, _upload_pdf(client, tmp_path))["state"] == "done"
        stored = _stored(settings)
        assert {p.suffix for p in stored} == {".pdf", ".png"}  # the original, page renders
        item = client.get("/v1/items", params={"kind": "page"}).json()["items"][0]
        assert (
            client.delete(f"/v1/items/{item['id']}", params={"document": "true"}).status_code == 200
        )
        assert client.get("/v1/items").json()["items"] == []
        assert _stored(settings) == []


def test_a_failed_document_job_leaves_no_original_or_render(make_settings, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        services.store.min_free_bytes = 2**62  # type: ignore[attr-defined]  # a full disk: writes fail
        job = _wait(client, _upload_pdf(client, tmp_path))
        assert job["state"] == "failed" and "MMRAG_STORE__MIN_FREE_MB" in job["error"], job
        assert _stored(settings) == []


def test_a_leftover_part_file_goes_at_start(make_settings, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    old = [
        uploads_dir(settings.data_dir) / "tmpab12.part",
        uploads_dir(settings.data_dir) / "mmrag" / "_" / "tmpcd34.part",
        pictures_dir(settings.data_dir) / "mmrag" / "_" / "0f" / "tmpef56.part",
    ]
    fresh = uploads_dir(settings.data_dir) / "mmrag" / "_" / "tmp-writing.part"
    for path in [*old, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a picture")
    an_hour_ago = time.time() - 3600
    for path in old:
        os.utime(path, (an_hour_ago, an_hour_ago))
    with TestClient(create_app(settings)):
        assert [path.exists() for path in old] == [False, False, False]
        assert fresh.exists()  # a write in progress (another replica's) is left alone


def test_deleting_a_document_deletes_what_ocr_read_from_its_renders(
    make_settings, tmp_path: Path
) -> None:
    from ingest.ocr import OcrCache
    from rag.ocr import OcrLine, OcrResult

    settings = make_settings(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        assert _wait(client, _upload_pdf(client, tmp_path))["state"] == "done"
        renders = [p for p in _stored(settings) if p.suffix == ".png"]
        read = OcrResult((OcrLine("Section 1", 0.9, (0.1, 0.1, 0.5, 0.2)),))
        for render in renders:  # as ingest.ocr.OcrCache keeps them beside the render
            OcrCache(render.parent.parent).put(render.stem, "rapidocr-test", read)
        assert len([p for p in _stored(settings) if p.name.endswith(".ocr.json")]) == len(renders)
        item = client.get("/v1/items", params={"kind": "page"}).json()["items"][0]
        client.delete(f"/v1/items/{item['id']}", params={"document": "true"})
        assert _stored(settings) == []

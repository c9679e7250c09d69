"""Documents through the API: hits and citations with pages, the original file, deletes, uploads."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.runner import ingest_paths
from rag.services import Services
from tests.api.test_ingest import wait_for
from tests.ingest.documents_draw import FIGURE_CAPTIONS, PAGE_FACTS, write_docx, write_pdf

PAGE_3 = f"Section 3: Aurora manual {PAGE_FACTS[3]}"
TEXT_ONLY = {"fusion": "weighted", "weights": {"text": 1.0, "image": 0.0}}


@pytest.fixture(scope="module")
def manual(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    path = write_pdf(folder / "manual.pdf")
    report = ingest_paths(services, [folder])
    assert report.documents == 1 and report.failed == 0
    return path


def _check_page_3(client: TestClient, entry: dict, manual: Path) -> None:
    """A page-3 hit or citation: its page, its picture and the original at that page."""
    assert entry["page"] == 3 and entry["kind"] == "passage"
    assert entry["document"]["title"] == "Aurora manual" and entry["document"]["pages"] == 4
    doc_id = entry["document"]["id"]
    assert entry["document"]["file_url"] == f"/v1/documents/{doc_id}/file#page=3"
    assert entry["image_url"] == f"/v1/items/{entry['id']}/image"
    picture = client.get(entry["image_url"])
    assert picture.status_code == 200 and picture.content[:4] == b"\x89PNG"
    original = client.get(entry["document"]["file_url"].split("#")[0])
    assert original.status_code == 200
    assert original.headers["content-type"] == "application/pdf"
    assert original.content == manual.read_bytes()


def test_search_hit_on_page_3_links_its_page(client: TestClient, manual: Path) -> None:
    hits = client.post("/v1/search", json={"text": PAGE_3, **TEXT_ONLY}).json()["hits"]
    _check_page_3(client, hits[0], manual)


def test_figure_hit_shows_its_crop(client: TestClient, manual: Path) -> None:
    body = {"text": FIGURE_CAPTIONS[4], "filter": "kind=figure", **TEXT_ONLY}
    hit = client.post("/v1/search", json=body).json()["hits"][0]
    assert (hit["kind"], hit["page"], hit["figure"]) == ("figure", 4, 0)
    crop = client.get(hit["image_url"])
    assert crop.status_code == 200 and crop.content[:4] == b"\x89PNG"


def test_chat_cites_page_3(client: TestClient, manual: Path) -> None:
    body = client.post("/v1/chat", json={"question": PAGE_3, **TEXT_ONLY}).json()
    assert "230 volts" in body["answer"]
    _check_page_3(client, body["citations"][0], manual)


def test_openai_and_ollama_routes_cite_page_3(client: TestClient, manual: Path) -> None:
    messages = [{"role": "user", "content": PAGE_3}]
    openai = client.post(
        "/v1/chat/completions", json={"model": "mmrag", "messages": messages, **TEXT_ONLY}
    ).json()
    _check_page_3(client, openai["citations"][0], manual)
    ollama = client.post(
        "/api/chat", json={"model": "mmrag", "messages": messages, "stream": False, **TEXT_ONLY}
    ).json()
    _check_page_3(client, ollama["citations"][0], manual)


def test_unknown_document_is_404(client: TestClient) -> None:
    response = client.get("/v1/documents/00000000-0000-0000-0000-000000000000/file")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_uploaded_document_then_delete_it_whole(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    data = write_docx(tmp_path / "handbook.docx").read_bytes()
    files = [("files", ("handbook.docx", data, "application/octet-stream"))]
    response = client.post("/v1/ingest", files=files)
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["job_id"])
    assert job["state"] == "done" and job["report"]["documents"] == 1, job
    body = {"text": "Always close the gas valve before opening the burner door.", **TEXT_ONLY}
    hit = client.post("/v1/search", json={**body, "filter": "source=handbook.docx"}).json()
    hit = hit["hits"][0]
    assert hit["document"]["title"] == "Boiler handbook"
    assert hit["document"]["file_url"] == f"/v1/documents/{hit['document']['id']}/file"
    original = client.get(hit["document"]["file_url"])
    assert original.status_code == 200 and original.content == data
    before = services.store.count()
    deleted = client.delete(f"/v1/items/{hit['id']}", params={"document": "true"}).json()
    assert deleted["points"] == job["report"]["points_written"] >= 3
    assert services.store.count() == before - deleted["points"]
    assert client.get(hit["document"]["file_url"]).status_code == 404


def test_a_document_file_that_is_no_document_is_refused_at_once(client: TestClient) -> None:
    files = [("files", ("fake.pdf", b"hello", "application/pdf"))]
    response = client.post("/v1/ingest", files=files)
    assert response.status_code == 400
    assert "not a PDF" in response.json()["message"]

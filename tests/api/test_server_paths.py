"""Server-path ingest (``POST /v1/ingest {"paths": [...]}``) through the real app: the job is
its writer's tenant's, a writer cannot make the server open new collections, and the worker
checks the roots again when it opens the paths (a folder swapped for a symlink after submit is
refused). The app's worker is off; each test runs the queued job itself, as the worker would,
after changing the files between submit and work."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.jobs import job_queue
from api.main import create_app
from ingest.worker import IngestWorker
from rag import payload as keys
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.draw import captioned_folder

A = "writer-of-tenant-a"
B = "writer-of-tenant-b"
STAR = "admin-of-every-tenant"


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roots").resolve()


@pytest.fixture(scope="module")
def app(
    make_settings, roots: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("server-paths")
    key_file = folder / "keys.txt"
    key_file.write_text(f"{A} tenant-a write\n{B} tenant-b write\n{STAR} * admin\n")
    settings = make_settings(
        folder / "data",
        api_keys_file=key_file,
        ingest={"roots": [roots]},
        api={"embedded_worker": False},
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _services(app: TestClient) -> Services:
    return app.app.state.services  # type: ignore[attr-defined]


def _submit(app: TestClient, key: str, paths: list[Path], **body: Any) -> str:
    accepted = app.post(
        "/v1/ingest", json={"paths": [str(p) for p in paths], **body}, headers=_h(key)
    )
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["job_id"])


def _work(app: TestClient) -> None:
    """Run the queued job as the embedded worker would."""
    assert IngestWorker(_services(app), job_queue(app.app)).run_once() is not None  # type: ignore[arg-type]


def _texts(app: TestClient, key: str, text: str) -> set[str]:
    found = app.post("/v1/search", json={"text": text, "top_k": 50}, headers=_h(key))
    assert found.status_code == 200, found.text
    return {hit["text"] for hit in found.json()["hits"]}


def _stored(app: TestClient, text: str) -> list[dict[str, Any]]:
    return [p.payload for p in all_points(_services(app).store) if p.payload.get(keys.TEXT) == text]


def test_a_tenant_writers_path_job_and_items_are_its_tenants(app: TestClient, roots: Path) -> None:
    folder = captioned_folder(roots / "a-set", 2, start=10)
    job_id = _submit(app, A, [folder])
    _work(app)
    job = app.get(f"/v1/ingest/{job_id}", headers=_h(A))
    assert job.status_code == 200, job.text  # its own job is visible to its writer
    assert (job.json()["state"], job.json()["progress"]["written"]) == ("done", 2)
    assert app.get(f"/v1/ingest/{job_id}", headers=_h(B)).status_code == 404
    mine = {"a picture number 10", "a picture number 11"}
    assert mine <= _texts(app, A, "a picture number 10")
    assert not mine & _texts(app, B, "a picture number 10")
    assert mine <= _texts(app, STAR, "a picture number 10")  # a '*' key sees every tenant's...
    for text in mine:  # ...and these are stored as tenant A's
        assert [p[keys.TENANT] for p in _stored(app, text)] == ["tenant-a"]


def test_a_writer_cannot_make_the_server_open_new_collections(app: TestClient, roots: Path) -> None:
    folder = captioned_folder(roots / "c-set", 1, start=20)
    for n in range(5):
        refused = app.post(
            "/v1/ingest",
            json={"paths": [str(folder)], "collection": f"new{n}"},
            headers=_h(A),
        )
        assert refused.status_code == 403 and "admin" in refused.json()["message"], refused.text
    services = _services(app)
    assert not services.__dict__.get("_collection_stores")
    assert not services.for_tenant("tenant-a").__dict__.get("_collection_stores")
    own = app.post(
        "/v1/ingest",
        json={"paths": [str(folder)], "collection": services.settings.store.collection},
        headers=_h(A),
    )
    assert own.status_code == 202, own.text  # naming the server's own collection is fine
    _work(app)


def test_a_folder_swapped_for_a_symlink_after_submit_is_refused_at_open(
    app: TestClient, roots: Path, tmp_path: Path
) -> None:
    outside = captioned_folder(tmp_path / "outside", 1, start=30)
    folder = captioned_folder(roots / "swapped", 1, start=31)
    job_id = _submit(app, STAR, [folder])  # an admin's job: only the roots are in question
    shutil.rmtree(folder)
    folder.symlink_to(outside, target_is_directory=True)
    _work(app)
    job = app.get(f"/v1/ingest/{job_id}", headers=_h(STAR)).json()
    assert job["state"] == "failed" and "symlink" in job["error"], job
    assert not _stored(app, "a picture number 30")


def test_a_middle_folder_swapped_for_a_symlink_after_submit_is_refused_at_open(
    app: TestClient, roots: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-middle"
    captioned_folder(outside / "inner", 1, start=40)
    folder = captioned_folder(roots / "middle" / "inner", 1, start=41)
    job_id = _submit(app, STAR, [folder])
    shutil.rmtree(roots / "middle")
    (roots / "middle").symlink_to(outside, target_is_directory=True)
    _work(app)
    job = app.get(f"/v1/ingest/{job_id}", headers=_h(STAR)).json()
    assert job["state"] == "failed" and "symlink" in job["error"], job
    assert not _stored(app, "a picture number 40")

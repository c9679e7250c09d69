"""``GET /v1/jobs/{id}/failures`` and ``POST /v1/jobs/{id}/retry`` through the real app: a job's
dead letters with their tries, a retry job that runs only those again, and tenancy (another
tenant's key sees and retries none of a tenant's jobs; a read key retries nothing). The app's
worker is off; each test runs the queued jobs itself, as the worker would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.jobs import job_queue
from api.main import create_app
from ingest.specs import JobSpec
from ingest.worker import IngestWorker
from tests.ingest.draw import captioned_folder, image_bytes, save

A = "writer-of-tenant-a"
A_READ = "reader-of-tenant-a"
B = "writer-of-tenant-b"
STAR = "admin-of-every-tenant"
CORRUPT = b"\x89PNG\r\n\x1a\n" + b"not a picture at all" * 8


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roots").resolve()


@pytest.fixture(scope="module")
def app(
    make_settings, roots: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("job-retries")
    key_file = folder / "keys.txt"
    key_file.write_text(
        f"{A} tenant-a write\n{A_READ} tenant-a read\n{B} tenant-b write\n{STAR} * admin\n"
    )
    settings = make_settings(
        folder / "data",
        api_keys_file=key_file,
        ingest={"roots": [roots]},
        api={"embedded_worker": False},
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _work(app: TestClient) -> None:
    services = app.app.state.services  # type: ignore[attr-defined]
    assert IngestWorker(services, job_queue(app.app)).run_once() is not None  # type: ignore[arg-type]


def _job(app: TestClient, job_id: str, key: str = A) -> dict[str, Any]:
    got = app.get(f"/v1/ingest/{job_id}", headers=_h(key))
    assert got.status_code == 200, got.text
    return got.json()


def test_failures_and_a_retry_of_only_them(app: TestClient, roots: Path) -> None:
    folder = captioned_folder(roots / "mixed", 3)
    (folder / "broken.png").write_bytes(CORRUPT)
    accepted = app.post("/v1/ingest", json={"paths": [str(folder)]}, headers=_h(A))
    job_id = accepted.json()["job_id"]
    _work(app)
    assert _job(app, job_id)["retryable"] is True

    failures = app.get(f"/v1/jobs/{job_id}/failures", headers=_h(A))
    assert failures.status_code == 200, failures.text
    body = failures.json()
    assert (body["state"], body["whole_job"], body["failed"], body["truncated"]) == (
        "done",
        False,
        1,
        False,
    )
    [failure] = body["failures"]
    assert failure["source"].endswith("broken.png") and failure["reason"]
    assert (failure["attempts"], failure["transient"]) == (1, False)

    save(folder / "broken.png", 5)  # fixed by its owner
    retried = app.post(f"/v1/jobs/{job_id}/retry", headers=_h(A))
    assert retried.status_code == 202, retried.text
    new = retried.json()
    assert (new["retry_of"], new["items"]) == (job_id, 1)
    assert new["status_url"] == f"/v1/ingest/{new['job_id']}"
    _work(app)
    again = _job(app, new["job_id"])
    assert again["retry_of"] == job_id and again["state"] == "done"
    assert (again["progress"]["seen"], again["progress"]["written"]) == (1, 1)
    assert again["retryable"] is False
    nothing = app.post(f"/v1/jobs/{new['job_id']}/retry", headers=_h(A))
    assert nothing.status_code == 409 and "no failed items" in nothing.json()["message"]
    assert _job(app, job_id)["progress"]["failed"] == 1  # the first job keeps its report


def test_another_tenant_neither_sees_nor_retries_a_tenants_job(
    app: TestClient, roots: Path
) -> None:
    folder = captioned_folder(roots / "own", 1, start=30)
    (folder / "broken.png").write_bytes(CORRUPT)
    job_id = app.post("/v1/ingest", json={"paths": [str(folder)]}, headers=_h(A)).json()["job_id"]
    _work(app)
    for path in (f"/v1/jobs/{job_id}/failures",):
        assert app.get(path, headers=_h(B)).status_code == 404
        assert app.get(path, headers=_h(A_READ)).status_code == 200
        assert app.get(path, headers=_h(STAR)).status_code == 200
    assert app.post(f"/v1/jobs/{job_id}/retry", headers=_h(B)).status_code == 404
    assert app.post(f"/v1/jobs/{job_id}/retry", headers=_h(A_READ)).status_code == 403
    retried = app.post(f"/v1/jobs/{job_id}/retry", headers=_h(STAR))
    assert retried.status_code == 202, retried.text
    queue = job_queue(app.app)  # type: ignore[arg-type]
    assert queue.get(retried.json()["job_id"]).spec.tenant == "tenant-a"  # the job's tenant
    _work(app)


def test_a_queued_or_unknown_job_is_not_retried(app: TestClient) -> None:
    queue = job_queue(app.app)  # type: ignore[arg-type]
    job_id = queue.submit(JobSpec(paths=["/nowhere"], tenant="tenant-a"))
    busy = app.post(f"/v1/jobs/{job_id}/retry", headers=_h(A))
    assert busy.status_code == 409 and "still queued" in busy.json()["message"]
    listed = app.get(f"/v1/jobs/{job_id}/failures", headers=_h(A)).json()
    assert (listed["failures"], listed["retryable"]) == ([], False)
    assert app.post("/v1/jobs/nope/retry", headers=_h(A)).status_code == 404
    assert app.get("/v1/jobs/nope/failures?limit=0", headers=_h(A)).status_code in (400, 422)
    queue.cancel(job_id)


def test_an_upload_whose_failed_file_was_not_kept_says_to_send_it_again(app: TestClient) -> None:
    files = [
        ("files", ("fine.png", image_bytes(3), "image/png")),
        ("files", ("bad.pdf", b"%PDF-1.4\nnot really a document\n", "application/pdf")),
    ]
    accepted = app.post("/v1/ingest", files=files, headers=_h(A))
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    _work(app)
    job = _job(app, job_id)
    assert (job["progress"]["written"], job["progress"]["failed"]) == (1, 1)
    assert job["retryable"] is False  # its staged PDF went with the job
    failures = app.get(f"/v1/jobs/{job_id}/failures", headers=_h(A)).json()
    assert failures["failures"][0]["source"] == "bad.pdf (#1)"
    refused = app.post(f"/v1/jobs/{job_id}/retry", headers=_h(A))
    assert refused.status_code == 409 and "upload them again" in refused.json()["message"]

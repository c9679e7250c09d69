"""Job lists per tenant: another tenant's many jobs hide none of a tenant's, and a tenant-bound
admin key lists its own tenant's jobs only (a ``*`` key lists every tenant's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.jobs import job_queue
from api.main import create_app
from ingest.specs import JobSpec

A = "key-of-tenant-a"
B_ADMIN = "admin-of-tenant-b"
EVERY = "admin-of-every-tenant"


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("job-lists")
    keys = folder / "keys.txt"
    keys.write_text(f"{A} tenant-a write\n{B_ADMIN} tenant-b admin\n{EVERY} * admin\n")
    settings = make_settings(folder / "data", api_keys_file=keys, api={"embedded_worker": False})
    with TestClient(create_app(settings)) as app:
        yield app


@pytest.fixture(scope="module")
def jobs(client: TestClient) -> dict[str, list[str]]:
    """One job of tenant A, then 200 of tenant B (queued: no worker runs them)."""
    queue = job_queue(client.app)  # type: ignore[arg-type]
    a = [queue.submit(JobSpec(paths=["/srv/a"], tenant="tenant-a"))]
    b = [queue.submit(JobSpec(paths=[f"/srv/b{n}"], tenant="tenant-b")) for n in range(200)]
    return {"a": a, "b": b}


def _listed(client: TestClient, key: str, limit: int = 200) -> list[str]:
    response = client.get("/v1/ingest", params={"limit": limit}, headers=_as(key))
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


def test_another_tenants_200_jobs_do_not_hide_a_tenants_job(
    client: TestClient, jobs: dict[str, list[str]]
) -> None:
    assert _listed(client, A) == jobs["a"]
    assert _listed(client, A, limit=1) == jobs["a"]


def test_a_tenant_bound_admin_key_lists_only_its_tenants_jobs(
    client: TestClient, jobs: dict[str, list[str]]
) -> None:
    assert _listed(client, B_ADMIN) == jobs["b"][::-1]
    assert client.get(f"/v1/ingest/{jobs['a'][0]}", headers=_as(B_ADMIN)).status_code == 404
    assert _listed(client, EVERY) == jobs["b"][::-1]  # the newest 200 of every tenant
    assert client.get(f"/v1/ingest/{jobs['a'][0]}", headers=_as(EVERY)).status_code == 200

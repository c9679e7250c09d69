"""``/v1/sources`` through the real app: admins only, checked configs, no credentials shown,
and a watched folder the collection follows while the app (its worker and watchers) runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.ingest.documents_draw import write_pdf
from tests.ingest.sync.conftest import sources_of

ADMIN, WRITER, B_ADMIN = "admin-key", "writer-key", "b-admin-key"


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roots")


@pytest.fixture(scope="module")
def app(
    make_settings, roots: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("sources-app")
    keys = folder / "keys.txt"
    keys.write_text(f"{ADMIN} * admin\n{WRITER} * write\n{B_ADMIN} tenant-b admin\n")
    settings = make_settings(folder / "data", api_keys_file=keys, ingest={"roots": [roots]})
    with TestClient(create_app(settings)) as client:
        yield client


def _wait(check: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_sources_are_for_admins_only(app: TestClient) -> None:
    assert app.get("/v1/sources", headers=_h(WRITER)).status_code == 403
    assert app.get("/v1/sources").status_code == 401
    assert app.get("/v1/sources", headers=_h(ADMIN)).status_code == 200


def test_a_folder_outside_the_roots_and_a_bad_kind_are_4xx(app: TestClient, tmp_path: Path) -> None:
    outside = {"name": "out", "kind": "folder", "location": str(tmp_path)}
    response = app.post("/v1/sources", json=outside, headers=_h(ADMIN))
    assert response.status_code == 400 and "ingest roots" in response.json()["message"]
    bad = {"name": "bad", "kind": "ftp", "location": "ftp://x"}
    assert app.post("/v1/sources", json=bad, headers=_h(ADMIN)).status_code == 422
    s3 = {"name": "s3bad", "kind": "s3", "location": "http://not-s3"}
    assert app.post("/v1/sources", json=s3, headers=_h(ADMIN)).status_code == 422


def test_an_s3_source_shows_no_credentials_and_a_tenant_admin_sees_its_own_only(
    app: TestClient, tmp_path: Path
) -> None:
    secrets = tmp_path / "s3.json"
    secrets.write_text(json.dumps({"aws_access_key_id": "AKIDX", "aws_secret_access_key": "SHH"}))
    body = {
        "name": "bucket",
        "kind": "s3",
        "location": "s3://photos/2024/",
        "endpoint_url": "http://127.0.0.1:9",
        "secrets_file": str(secrets),
    }
    created = app.post("/v1/sources", json=body, headers=_h(B_ADMIN))
    assert created.status_code == 201, created.text
    assert created.json()["config"]["tenant"] == "tenant-b"
    listed = app.get("/v1/sources", headers=_h(ADMIN)).text
    assert "SHH" not in listed and "AKIDX" not in listed and "bucket" in listed
    assert app.post("/v1/sources", json=body, headers=_h(ADMIN)).status_code == 400  # taken
    other = {"name": "mine", "kind": "web", "location": "http://127.0.0.1:9/"}
    assert app.post("/v1/sources", json=other, headers=_h(ADMIN)).status_code == 201
    names = [
        s["config"]["name"] for s in app.get("/v1/sources", headers=_h(B_ADMIN)).json()["sources"]
    ]
    assert names == ["bucket"]
    assert app.get("/v1/sources/mine", headers=_h(B_ADMIN)).status_code == 404
    assert app.delete("/v1/sources/bucket", headers=_h(B_ADMIN)).status_code == 200
    assert app.delete("/v1/sources/mine", headers=_h(ADMIN)).status_code == 200


def test_a_watched_folder_is_followed_while_the_app_runs(app: TestClient, roots: Path) -> None:
    folder = roots / "watched"
    folder.mkdir()
    (folder / "a.txt").write_text("apples are red", encoding="utf-8")
    write_pdf(folder / "manual.pdf")
    # schedule_s: the re-scan that catches what the watcher misses. After other apps ran in this
    # process the watcher has missed events here (the watcher alone: tests/ingest/sync).
    body = {
        "name": "watched",
        "kind": "folder",
        "location": str(folder),
        "debounce_ms": 200,
        "schedule_s": 10,
    }
    assert app.post("/v1/sources", json=body, headers=_h(ADMIN)).status_code == 201
    accepted = app.post("/v1/sources/watched/sync", headers=_h(ADMIN))
    assert accepted.status_code == 202
    services = app.app.state.services  # type: ignore[attr-defined]

    def now() -> dict[str, int]:
        return sources_of(services, str(folder))

    _wait(lambda: {"a.txt", "manual.pdf"} <= set(now()))
    (folder / "b.txt").write_text("bananas are yellow", encoding="utf-8")
    _wait(lambda: "b.txt" in now())
    (folder / "a.txt").rename(folder / "c.txt")
    _wait(lambda: "c.txt" in now() and "a.txt" not in now())
    (folder / "manual.pdf").unlink()
    _wait(lambda: set(now()) == {"b.txt", "c.txt"})
    state = app.get("/v1/sources/watched", headers=_h(ADMIN)).json()["state"]
    assert state["error"] is None and state["last_job"]
    search = {"text": "bananas", "top_k": 20}
    hits = app.post("/v1/search", json=search, headers=_h(ADMIN)).json()["hits"]
    assert {hit["source"] for hit in hits} == {"b.txt", "c.txt"}  # nothing deleted is found

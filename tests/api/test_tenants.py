"""Tenants: tenant A's key, on every route of the OpenAPI spec, finds nothing of tenant B's."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from rag import payload as keys
from rag.services import Services
from tests.api.conftest import png_bytes

A = "key-of-tenant-a"
B = "key-of-tenant-b"
A_READ = "reader-of-tenant-a"
SECRET = "zebra secret of tenant b"
"""B's item text: it must never appear in an answer to A."""
QUERY = "what is on the pictures?"
"""What A asks: any item matches it (the tiny model ranks every item), B's would if it leaked."""
IMAGE = base64.b64encode(png_bytes((9, 99, 199))).decode()
PNG = ("b.png", png_bytes((9, 99, 199)), "image/png")


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def app(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("tenants")
    key_file = folder / "keys.txt"
    key_file.write_text(f"{A} tenant-a write\n{A_READ} tenant-a read\n{B} tenant-b admin\n")
    settings = make_settings(folder / "data", api_keys_file=key_file)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def b_items(app: TestClient) -> dict[str, str]:
    """B's item (ingested through the API as B), B's job, and a document B uploaded."""
    body = {"items": [{"image": IMAGE, "text": SECRET, "id": "b-1"}]}
    job_id = _ingested(app, app.post("/v1/ingest", json=body, headers=_headers(B)))
    hits = app.post("/v1/search", json={"text": SECRET}, headers=_headers(B)).json()["hits"]
    (item_id,) = [hit["id"] for hit in hits]
    note = ("b-notes.md", b"# B notes\n\nThe vault opens on Tuesdays.\n", "text/markdown")
    _ingested(app, app.post("/v1/ingest", files=[("files", note)], headers=_headers(B)))
    listed = app.get("/v1/items", params={"kind": "passage"}, headers=_headers(B)).json()
    document_id = listed["items"][0]["document"]["id"]
    return {"item_id": item_id, "job_id": job_id, "document_id": document_id}


def _ingested(app: TestClient, accepted: Any) -> str:
    """The id of an accepted ingest job, once B sees it done."""
    assert accepted.status_code == 202, accepted.text
    job_id = str(accepted.json()["job_id"])
    deadline = time.monotonic() + 60
    while app.get(f"/v1/ingest/{job_id}", headers=_headers(B)).json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return job_id


def _request(method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    """Arguments that would reach B's data if tenants leaked: B's ids, a query any item matches."""
    url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)
    jsons: dict[str, Any] = {
        "/v1/search": {"text": QUERY},
        "/v1/chat": {"question": QUERY},
        "/v1/chat/completions": {
            "model": "mmrag",
            "messages": [{"role": "user", "content": QUERY}],
        },
        "/api/chat": {
            "model": "mmrag",
            "messages": [{"role": "user", "content": QUERY}],
            "stream": False,
        },
        "/v1/embed/text": {"texts": [QUERY]},
        "/v1/embeddings": {"input": QUERY, "model": "mmrag"},
        "/api/embed": {"input": QUERY, "model": "mmrag"},
        "/api/show": {"model": "mmrag"},
        "/v1/classify": {"image": IMAGE, "labels": ["zebra", "cat"]},
        "/v1/moderate": {"image": IMAGE},
        "/v1/ingest": {"items": [{"text": "a's own item", "id": "b-1"}]},
    }
    files: dict[str, Any] = {
        "/v1/embed/image": {"files": PNG},
        "/v1/similarity": {"image": PNG},
    }
    args: dict[str, Any] = {"method": method, "url": url}
    if method == "POST" and path in files:
        args["files"] = files[path]
        if path == "/v1/similarity":
            args["data"] = {"text": [QUERY]}
    elif method == "POST":
        args["json"] = jsons.get(path, {"text": QUERY, "question": QUERY, "query": QUERY})
    return args


def _operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return sorted((m.upper(), p) for p, ops in paths.items() for m in ops)


def test_tenant_a_sees_nothing_of_tenant_b_on_any_route(
    app: TestClient, b_items: dict[str, str]
) -> None:
    operations = _operations(app)
    assert len(operations) > 20
    deletes = [op for op in operations if op[0] == "DELETE"]
    for method, path in [op for op in operations if op[0] != "DELETE"] + deletes:
        response = app.request(**_request(method, path, b_items), headers=_headers(A))
        assert response.status_code < 500, (method, path, response.text)
        text = response.text
        if "{" in path and response.status_code == 403:  # a role A's key lacks (admin routes):
            unknown = app.request(**_request(method, path, {}), headers=_headers(A))
            assert unknown.status_code == 403, (method, path)  # refused alike for any id
        elif "{" in path:  # B's ids: as unknown as a random one (no 403 to say they exist)
            assert response.status_code == 404, (method, path, response.text)
            for own_id in b_items.values():  # echoed back in the 404's message
                text = text.replace(own_id, "")
        for leaked in (SECRET, *b_items.values()):
            assert leaked not in text, (method, path, leaked, text[:300])
    # B's item and job survived A's deletes
    item = app.get(f"/v1/items/{b_items['item_id']}", headers=_headers(B))
    assert item.status_code == 200 and item.json()["text"] == SECRET


def test_each_tenant_finds_its_own_and_ids_do_not_collide(
    app: TestClient, b_items: dict[str, str]
) -> None:
    body = {"items": [{"image": IMAGE, "text": SECRET, "id": "b-1"}]}  # the very same item
    job_id = app.post("/v1/ingest", json=body, headers=_headers(A)).json()["job_id"]
    deadline = time.monotonic() + 60
    while app.get(f"/v1/ingest/{job_id}", headers=_headers(A)).json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    a_hits = app.post("/v1/search", json={"text": SECRET}, headers=_headers(A)).json()["hits"]
    b_all = app.post("/v1/search", json={"text": SECRET}, headers=_headers(B)).json()["hits"]
    b_hits = [hit for hit in b_all if hit["external_id"] == "b-1"]  # B also holds a document
    assert len(a_hits) == 1 and len(b_hits) == 1 and a_hits[0]["id"] != b_hits[0]["id"]
    assert b_hits[0]["id"] == b_items["item_id"]
    picture = app.get(a_hits[0]["image_url"], headers=_headers(A))
    assert picture.status_code == 200
    assert app.get(b_hits[0]["image_url"], headers=_headers(A)).status_code == 404


def test_roles(app: TestClient, b_items: dict[str, str]) -> None:
    body = {"items": [{"text": "from a reader"}]}
    assert app.post("/v1/ingest", json=body, headers=_headers(A_READ)).status_code == 403
    assert app.post("/v1/search", json={"text": "x"}, headers=_headers(A_READ)).status_code == 200
    assert app.get("/v1/stats", headers=_headers(A)).status_code == 403
    assert app.get("/v1/stats", headers=_headers(B)).status_code == 200
    jobs_of_b = app.get("/v1/ingest", headers=_headers(B)).json()["jobs"]  # its own tenant's
    jobs_of_a = app.get("/v1/ingest", headers=_headers(A)).json()["jobs"]
    assert b_items["job_id"] in {job["id"] for job in jobs_of_b}
    assert b_items["job_id"] not in {job["id"] for job in jobs_of_a}


def test_ready_details_for_admins_only(app: TestClient) -> None:
    assert set(app.get("/ready").json()) == {"status"}
    assert set(app.get("/ready", headers=_headers(A)).json()) == {"status"}
    assert "components" in app.get("/ready", headers=_headers(B)).json()


def test_keys_rotate_without_a_restart(app: TestClient, tmp_path: Path) -> None:
    key_file = Path(app.app.state.keyring._file)  # type: ignore[attr-defined]
    before = key_file.read_text()
    try:
        key_file.write_text(before + "brand-new-key tenant-c read\n")
        assert app.get("/v1/models", headers=_headers("brand-new-key")).status_code == 200
        key_file.write_text(before.replace(A_READ, "rotated-reader"))
        assert app.get("/v1/models", headers=_headers(A_READ)).status_code == 401
        assert app.get("/v1/models", headers=_headers("rotated-reader")).status_code == 200
    finally:
        key_file.write_text(before)


def test_points_carry_their_tenant(app: TestClient, b_items: dict[str, str]) -> None:
    services: Services = app.app.state.services  # type: ignore[attr-defined]
    (point,) = services.store.get([b_items["item_id"]])
    assert point.payload[keys.TENANT] == "tenant-b"


def test_a_non_loopback_address_without_keys_is_warned_about() -> None:
    from api.auth import KeyRing, exposure_warning

    off, on = KeyRing([]), KeyRing(["k"])
    assert "API KEYS OFF" in (exposure_warning("0.0.0.0", off) or "")
    assert "API KEYS OFF" in (exposure_warning("192.168.1.5", off) or "")
    for quiet in (exposure_warning("127.0.0.1", off), exposure_warning("::1", off)):
        assert quiet is None
    assert exposure_warning("localhost", off) is None
    assert exposure_warning("0.0.0.0", on) is None


def test_one_tenants_delete_leaves_the_other_tenants_copy_of_the_same_upload(
    app: TestClient,
) -> None:
    from ingest.uploads import uploads_dir

    image = base64.b64encode(png_bytes((123, 45, 67))).decode()
    for key in (A, B):
        body = {"items": [{"image": image, "text": f"shared picture of {key}"}]}
        job_id = app.post("/v1/ingest", json=body, headers=_headers(key)).json()["job_id"]
        deadline = time.monotonic() + 60
        while app.get(f"/v1/ingest/{job_id}", headers=_headers(key)).json()["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    services: Services = app.app.state.services  # type: ignore[attr-defined]
    folder = uploads_dir(services.settings.data_dir)
    before = {path for path in folder.rglob("*") if path.is_file()}
    hits = app.post("/v1/search", json={"text": f"shared picture of {A}"}, headers=_headers(A))
    (mine,) = [h["id"] for h in hits.json()["hits"] if h["text"] == f"shared picture of {A}"]
    assert app.delete(f"/v1/items/{mine}", headers=_headers(A)).status_code == 200
    after = {path for path in folder.rglob("*") if path.is_file()}
    assert len(after) == len(before) - 1  # A's copy went, B's stays: each tenant stages its own
    hits = app.post("/v1/search", json={"text": f"shared picture of {B}"}, headers=_headers(B))
    (theirs,) = [h["id"] for h in hits.json()["hits"] if h["text"] == f"shared picture of {B}"]
    assert app.get(f"/v1/items/{theirs}/image", headers=_headers(B)).status_code == 200

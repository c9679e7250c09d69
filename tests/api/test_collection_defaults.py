"""``/v1/admin/collection/defaults`` through the real app: a search that names no fusion, weights
or signals uses the collection's defaults; the request still overrides; admins of every tenant
only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from rag.services import Services
from tests.api.conftest import add_item

ROOT, TENANT_ADMIN, READER = "root-admin", "admin-of-tenant-a", "reader-of-all"
URL = "/v1/admin/collection/defaults"
QUERY = {"text": "a red square on a mat"}


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def app(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("defaults")
    keys = folder / "keys.txt"
    keys.write_text(f"{ROOT} * admin\n{TENANT_ADMIN} tenant-a admin\n{READER} * read\n")
    services = Services(make_settings(folder / "data", api_keys_file=keys))
    pictures = folder / "pictures"
    pictures.mkdir()
    add_item(services, pictures, "a red square on a mat", (220, 20, 20))
    add_item(services, pictures, "a blue circle in the sky", (20, 20, 220))
    with TestClient(create_app(services=services)) as client:
        yield client
    services.close()


def _hits(app: TestClient, **body) -> list[dict]:
    response = app.post("/v1/search", json={**QUERY, **body}, headers=_as(READER))
    assert response.status_code == 200, response.text
    return response.json()["hits"]


def test_searches_use_the_collections_defaults_until_cleared(app: TestClient) -> None:
    assert all(hit["scores"]["image"] is not None for hit in _hits(app))
    put = app.put(URL, json={"fusion": "weighted", "signals": ["text"]}, headers=_as(ROOT))
    assert put.status_code == 200, put.text
    assert put.json() == {
        "collection": "mmrag",
        "fusion": "weighted",
        "weights": None,
        "signals": ["text"],
    }
    assert app.get(URL, headers=_as(ROOT)).json()["signals"] == ["text"]
    hits = _hits(app)
    assert hits and all(hit["scores"]["image"] is None for hit in hits)
    assert all(hit["scores"]["fused"] == pytest.approx(hit["scores"]["text"]) for hit in hits)
    # the request still overrides: image alone, by rrf
    named = _hits(app, signals=["image"], fusion="rrf")
    assert named and all(hit["scores"]["text"] is None for hit in named)
    assert all(hit["scores"]["image"] is not None for hit in named)
    cleared = app.delete(URL, headers=_as(ROOT))
    assert cleared.status_code == 200 and cleared.json()["signals"] is None
    assert all(hit["scores"]["image"] is not None for hit in _hits(app))


def test_default_weights_weigh_the_fused_score(app: TestClient) -> None:
    body = {"fusion": "weighted", "signals": ["image", "text"], "weights": {"text": 1.5}}
    assert app.put(URL, json=body, headers=_as(ROOT)).status_code == 200
    try:
        hits = _hits(app)  # text weighs 1.5; image keeps the settings' 0.5
        assert hits
        for hit in hits:
            image, text = hit["scores"]["image"], hit["scores"]["text"]
            assert hit["scores"]["fused"] == pytest.approx((1.5 * text + 0.5 * image) / 2.0)
    finally:
        app.delete(URL, headers=_as(ROOT))


def test_only_admins_of_every_tenant_may_read_or_change_them(app: TestClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        body = {"fusion": "rrf"} if method == "PUT" else None
        tenant = app.request(method, URL, json=body, headers=_as(TENANT_ADMIN))
        assert tenant.status_code == 403, tenant.text
        assert "every tenant" in tenant.json()["message"]
        reader = app.request(method, URL, json=body, headers=_as(READER))
        assert reader.status_code == 403, reader.text
        assert app.request(method, URL, json=body).status_code == 401
    assert app.get(URL, headers=_as(ROOT)).json()["fusion"] is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"weights": {"colour": 1.0}}, "unknown weight"),
        ({"weights": {"text": 0.0}}, "not all zero"),
        ({"signals": ["smell"]}, "unknown signal"),
        ({"fusion": "best"}, "fusion"),
        ({"fusion": "rrf", "ranking": "x"}, "ranking"),
    ],
)
def test_bad_defaults_are_a_400_that_says_what_to_fix(app: TestClient, body, words) -> None:
    response = app.put(URL, json=body, headers=_as(ROOT))
    assert 400 <= response.status_code < 500, response.text
    assert words in response.text
    assert app.get(URL, headers=_as(ROOT)).json()["fusion"] is None

"""The page's routes (``/``, its files, ``/docs``, ``/redoc``) and the endpoints it reads
(``GET /v1/items`` page by page, ``GET /v1/info``), over the real app."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from rag.services import Services
from tests.api.conftest import add_item


def test_the_page_is_served_at_the_root_with_its_modules(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text)
    assert "/ui/js/main.js" in assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_every_module_the_page_imports_is_served(client: TestClient) -> None:
    seen, todo = set(), ["/ui/js/main.js"]
    while todo:
        path = todo.pop()
        seen.add(path)
        response = client.get(path)
        assert response.status_code == 200, path
        assert "javascript" in response.headers["content-type"]
        for name in re.findall(r"""(?:from|import\()\s*['"]\./([\w.]+)['"]""", response.text):
            if f"/ui/js/{name}" not in seen:
                todo.append(f"/ui/js/{name}")
    assert {"/ui/js/search.js", "/ui/js/chat.js", "/ui/js/ingest.js"} <= seen


def test_the_docs_pages_load_their_assets_from_this_server(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls, path
        assert all(url.startswith("/ui/vendor/") for url in urls), urls
        for url in urls:
            assert client.get(url).status_code == 200, url
    assert "cdn." not in client.get("/docs").text + client.get("/redoc").text
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_page_config_says_whether_keys_are_on_without_a_key(make_settings, tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path / "data", api_keys=["k1"]))
    try:
        with TestClient(create_app(services=services)) as keyed:
            assert keyed.get("/ui/config.json").json() == {"api_keys": True}
            assert keyed.get("/").status_code == 200
            assert keyed.get("/v1/info").status_code == 401
            assert keyed.get("/v1/items").status_code == 401
            assert keyed.get("/v1/items", headers={"X-API-Key": "k1"}).status_code == 200
    finally:
        services.close()


def test_items_come_page_by_page_until_next_is_null(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    before = client.get("/v1/items", params={"limit": 200}).json()["total"]
    added = {add_item(services, tmp_path, f"browse item {n}", (n * 40, 10, 10)) for n in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/items", params=params).json()
        assert len(page["items"]) <= 2
        assert page["total"] == before + 5
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert added <= set(seen)
    assert len(seen) == len(set(seen)) == before + 5
    item = next(
        i
        for i in client.get("/v1/items", params={"limit": 200}).json()["items"]
        if i["id"] in added
    )
    assert item["image_url"] == f"/v1/items/{item['id']}/image"


def test_items_of_an_unknown_kind_are_an_empty_page(client: TestClient) -> None:
    page = client.get("/v1/items", params={"kind": "passage"}).json()
    assert page == {"items": [], "next": None, "total": 0}


def test_items_page_size_over_the_cap_is_a_422(client: TestClient) -> None:
    response = client.get("/v1/items", params={"limit": 10_000})
    assert response.status_code == 422
    assert "limit" in response.json()["message"]


def test_info_names_the_models_and_search_options(client: TestClient) -> None:
    info = client.get("/v1/info").json()
    assert info["models"]["clip"].startswith("mmrag-tiny")
    assert info["models"]["reranker"] == "none"
    assert info["models"]["llm_backend"] == "extractive"
    assert info["models"]["llm_model"] == "extractive"
    assert info["store"] == "edge"
    assert {"image", "text"} <= set(info["search"]["weights"])
    assert info["search"]["fusion_modes"] == ["rrf", "dbsf", "weighted"]
    assert info["max_upload_bytes"] > 0


def test_every_file_of_the_page_is_package_data() -> None:
    """A wheel install serves the page and the docs: pyproject's globs cover every file."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    data = config["tool"]["setuptools"]["package-data"]
    globs = [*data.get("*", []), *data.get("api", [])]  # for every package, and for api
    packaged = {path for pattern in globs for path in (root / "api").glob(pattern)}
    files = {path for path in (root / "api/ui").rglob("*") if path.is_file()}
    assert sorted(map(str, files - packaged)) == []


def test_page_config_says_keys_are_on_when_they_come_only_from_a_keys_file(
    make_settings, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("filekey * read\n")
    services = Services(make_settings(tmp_path / "data", api_keys_file=keys_file))
    try:
        with TestClient(create_app(services=services)) as keyed:
            assert keyed.get("/ui/config.json").json() == {"api_keys": True}
            assert keyed.get("/v1/items").status_code == 401
            assert keyed.get("/v1/items", headers={"X-API-Key": "filekey"}).status_code == 200
    finally:
        services.close()

"""The app shell: health, readiness, the error shape, CORS and the lazy module-level app."""

from __future__ import annotations

from fastapi.testclient import TestClient

import api.main
from api.main import create_app


def test_health_needs_nothing(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_reports_each_component(client: TestClient) -> None:
    response = client.get("/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["components"]) == {"store", "embedder", "llm"}
    assert "mmrag-tiny" in body["components"]["embedder"]["detail"]


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Not Found"}


def test_wrong_method_is_json_405(client: TestClient) -> None:
    response = client.delete("/health")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_importing_main_builds_nothing() -> None:
    assert isinstance(api.main.app, api.main.LazyApp)
    assert api.main.app._app is None


def test_lazy_app_builds_from_environment(monkeypatch, model_dir, tmp_path) -> None:
    monkeypatch.setenv("MMRAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MMRAG_LLM__BACKEND", "extractive")
    monkeypatch.setenv("MMRAG_CLIP__MODEL", "mmrag-tiny")
    monkeypatch.setenv("MMRAG_CLIP__PRETRAINED", "")
    monkeypatch.setenv("MMRAG_CLIP__CACHE_DIR", str(model_dir))
    lazy = api.main.LazyApp()
    with TestClient(lazy) as test_client:
        assert test_client.get("/health").status_code == 200
    assert lazy._app is not None


def test_cors_off_by_default(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_on_for_configured_origins(make_settings, tmp_path) -> None:
    settings = make_settings(tmp_path / "data", api={"cors_origins": ["https://ui.example"]})
    app = create_app(settings)
    with TestClient(app) as test_client:
        response = test_client.get("/health", headers={"Origin": "https://ui.example"})
    assert response.headers["access-control-allow-origin"] == "https://ui.example"


def test_unready_llm_gives_503(make_settings, tmp_path) -> None:
    llm = {"backend": "ollama", "ollama_host": "http://127.0.0.1:9"}
    settings = make_settings(tmp_path / "data", llm=llm)
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/ready")
    assert response.status_code == 503
    assert response.json()["components"]["llm"]["status"] == "error"


def test_openapi_documents_every_resource(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/search", "/v1/ingest", "/v1/chat/completions", "/api/chat", "/ready"):
        assert path in paths
    ingest = paths["/v1/ingest"]["post"]["requestBody"]["content"]
    assert set(ingest) == {"multipart/form-data", "application/json"}

"""API keys: every route but ``/health`` and ``/ready`` answers 401 without a valid key."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.deps import key_is_valid
from api.main import create_app
from rag.config import Settings

KEY = "s3cret-key"
PUBLIC = {"/health", "/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""Liveness, readiness and the API's own documentation."""
PUBLIC |= {"/", "/favicon.ico", "/ui/config.json"}
"""The web page's files (they hold no data; the page sends the key on each call)."""


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings(_env_file=None))  # only its routes are read; nothing is loaded
    return sorted(
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path is not None
        for method in route.methods or ()
        if method != "HEAD"
    )


@pytest.fixture(scope="module")
def locked(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("data"), api_keys=[KEY, "other"])
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.mark.parametrize(("method", "path"), _routes())
def test_every_route_needs_a_key(locked: TestClient, method: str, path: str) -> None:
    response = locked.request(method, _concrete(path))
    if path in PUBLIC:
        assert response.status_code != 401
    else:
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}, {"authorization": "bearer other"}],
)
def test_valid_key_passes(locked: TestClient, headers: dict[str, str]) -> None:
    assert locked.get("/v1/stats", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer wrong"}, {"X-API-Key": KEY[:-1]}, {"Authorization": f"Basic {KEY}"}],
)
def test_wrong_key_is_refused(locked: TestClient, headers: dict[str, str]) -> None:
    assert locked.get("/v1/stats", headers=headers).status_code == 401


def test_key_compare() -> None:
    assert key_is_valid("a", ["b", "a"])
    assert not key_is_valid("a", [])
    assert not key_is_valid("", ["a"])

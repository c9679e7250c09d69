"""The gate before every route (``api/gate.py``): the Host allow-list against DNS rebinding,
keyless cross-site writes refused (CSRF), and the API key checked before the body is read."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import Headers

from api.gate import Origins, cannot_be_rebound, host_name
from api.main import create_app
from rag.config import Settings

EVIL = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
"""What a browser sends with a form that a page on another site posts here."""


def _origins(**api: object) -> Origins:
    return Origins.for_settings(Settings(_env_file=None, api=api))


# --- Host allow-list (DNS rebinding) ---------------------------------------------------------


def test_a_foreign_host_name_is_refused_with_what_to_set(client: TestClient) -> None:
    response = client.get("/v1/stats", headers={"Host": "rebound.evil.example:8000"})
    assert response.status_code == 400
    body = response.json()
    assert "'rebound.evil.example'" in body["message"]
    assert "MMRAG_API__ALLOWED_HOSTS" in body["message"]
    assert client.get("/", headers={"Host": "rebound.evil.example"}).status_code == 400


@pytest.mark.parametrize(
    "host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "10.0.0.7:8000", "mybox", "ui.localhost"]
)
def test_names_no_other_site_can_point_here_are_served(client: TestClient, host: str) -> None:
    assert client.get("/v1/stats", headers={"Host": host}).status_code == 200


def test_the_allow_list_takes_the_setting_the_bound_host_and_the_public_url() -> None:
    origins = _origins(
        host="rag.lan.example", public_url="https://rag.example.com/", allowed_hosts="a.example"
    )
    for host in ("rag.lan.example:8000", "RAG.example.com", "a.example.", "a.example:443"):
        assert origins.allows_host(host), host
    assert not origins.allows_host("b.example")
    assert _origins(allowed_hosts=["*"]).allows_host("b.example")


def test_host_names_are_read_without_port_case_or_brackets() -> None:
    assert host_name("[::1]:8000") == "::1"
    assert host_name("Example.COM.:80") == "example.com"
    assert host_name("::1") == "::1"
    assert cannot_be_rebound("192.168.1.5") and cannot_be_rebound("fe80::1")
    assert not cannot_be_rebound("evil.example") and not cannot_be_rebound("1.2.3.4.nip.io")


# --- Keyless writes from other sites (CSRF) --------------------------------------------------


def test_a_cross_site_form_post_without_a_key_is_refused(client: TestClient) -> None:
    before = client.get("/v1/ingest").json()["jobs"]
    response = client.post("/v1/ingest", data={"texts": "planted"}, headers=EVIL)
    assert response.status_code == 403
    assert "MMRAG_API__CORS_ORIGINS" in response.json()["message"]
    assert client.get("/v1/ingest").json()["jobs"] == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},  # a browser that sends no Sec-Fetch-Site
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Sec-Fetch-Site": "same-site"},  # another port or subdomain
    ],
)
def test_other_signs_of_another_site_are_refused(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert client.delete("/v1/items/nothing", headers=headers).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, Python, the CLI: not a browser
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},  # the server's page
        {"Origin": "http://testserver"},  # the page in a browser that sends no Sec-Fetch-Site
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked
    ],
)
def test_writes_from_this_server_or_no_browser_pass(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert client.post("/v1/ingest", data={"texts": "hello"}, headers=headers).status_code == 202


def test_reads_from_other_sites_are_not_refused(client: TestClient) -> None:
    assert client.get("/v1/stats", headers=EVIL).status_code == 200


def test_a_site_in_the_cors_origins_may_write_without_a_key() -> None:
    origins = _origins(cors_origins="http://evil.example")
    assert not origins.cross_site(Headers(EVIL))
    assert origins.cross_site(Headers({**EVIL, "Origin": "http://other.example"}))


# --- The key before the body -----------------------------------------------------------------

KEY = "gate-key"


@pytest.fixture(scope="module")
def locked(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("data"), api_keys=[f"{KEY}:*:write"])
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_big_body_with_a_bad_key_is_refused_before_it_is_parsed(locked: TestClient) -> None:
    body = b'{"texts": [' + b",".join([b'{"a":0}'] * 2_400_000) + b"]}"  # ~1 s to parse
    assert len(body) > 18 * 1024 * 1024
    headers = {"Content-Type": "application/json", "X-API-Key": "wrong"}
    times = []
    for _ in range(3):  # the best of three: this machine may be busy with other work
        started = time.perf_counter()
        response = locked.post("/v1/embed/text", content=body, headers=headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == 401
    assert min(times) < 0.3, f"{min(times):.2f} s before the 401"


def test_a_key_with_too_low_a_role_is_refused_before_the_body(locked: TestClient) -> None:
    response = locked.get("/v1/stats", headers={"X-API-Key": KEY})
    assert response.status_code == 403
    assert "needs admin" in response.json()["message"]


def test_a_cross_site_write_with_a_key_is_not_refused_as_cross_site(locked: TestClient) -> None:
    # A page elsewhere cannot send a key header without the server's CORS consent.
    headers = {**EVIL, "X-API-Key": KEY}
    assert locked.post("/v1/ingest", data={"texts": "hi"}, headers=headers).status_code == 202
    assert locked.post("/v1/ingest", data={"texts": "hi"}, headers=EVIL).status_code == 403

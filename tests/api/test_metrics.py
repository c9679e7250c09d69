"""``GET /metrics``: Prometheus text whose counters move with a search, a chat answer and an
ingest; queue depth, models loaded and points read at scrape time; admins only with keys on."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from rag.services import Services
from tests.api.conftest import png_bytes


def scrape(client: TestClient, **headers: str) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum over every label set that has ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_search_chat_and_ingest_move_the_counters(client: TestClient) -> None:
    before = scrape(client)
    response = client.post(
        "/v1/ingest",
        files=[("files", ("m.png", png_bytes((10, 200, 10)), "image/png"))],
        data={"texts": ["a green square for the metrics"]},
    )
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/ingest/{job_id}").json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.post("/v1/search", json={"text": "green square"}).status_code == 200
    assert client.post("/v1/chat", json={"question": "what is green?"}).status_code == 200
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    route = {"method": "POST", "route": "/v1/search", "status": "200"}
    assert moved("mmrag_http_requests_total", **route) == 1
    assert moved("mmrag_http_request_duration_seconds_count", method="POST", route="/v1/search")
    assert moved("mmrag_http_requests_total", method="GET", route="/v1/ingest/{job_id}") >= 1
    for stage in ("encode", "store", "fuse"):
        assert moved("mmrag_search_stage_seconds_count", stage=stage) == 1
    assert moved("mmrag_search_stage_seconds_count", stage="retrieve") == 1  # the chat's
    assert moved("mmrag_generation_first_token_seconds_count") == 1
    assert moved("mmrag_ingest_items_total", kind="item", outcome="written") == 1
    assert moved("mmrag_ingest_runs_total", end="ended") == 1
    assert moved("mmrag_ingest_seconds_total") > 0
    assert value(after, "mmrag_model_loaded", part="embedder") == 1
    assert value(after, "mmrag_model_loaded", part="chat_model") == 1
    assert value(after, "mmrag_ingest_jobs", state="queued") == 0
    assert value(after, "mmrag_store_points") >= 1


def test_worker_failures_are_counted_by_a_short_reason(make_settings, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "good.png").write_bytes(png_bytes((1, 2, 3)))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not a picture")
    services = Services(make_settings(tmp_path / "data", ingest={"roots": [str(folder)]}))
    try:
        with TestClient(create_app(services=services)) as client:
            before = scrape(client)
            job_id = client.post("/v1/ingest", json={"paths": [str(folder)]}).json()["job_id"]
            deadline = time.monotonic() + 60
            while client.get(f"/v1/ingest/{job_id}").json()["state"] not in ("done", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            after = scrape(client)
    finally:
        services.close()
    failed = {
        dict(labels)["reason"]: count - before.get((name, labels), 0.0)
        for (name, labels), count in after.items()
        if name == "mmrag_ingest_failures_total" and count > before.get((name, labels), 0.0)
    }
    assert sum(failed.values()) == 1, failed
    (reason,) = failed
    assert 0 < len(reason) <= 60 and "/" not in reason and "broken" not in reason
    item = {"kind": "item"}
    assert (
        total(after, "mmrag_ingest_items_total", outcome="failed", **item)
        - total(before, "mmrag_ingest_items_total", outcome="failed", **item)
        == 1
    )


def test_reason_labels_are_short_and_bounded() -> None:
    from ingest import metrics

    label = metrics.reason_label("cannot decode /srv/photos/x123.png: truncated file 42")
    assert label == "cannot decode srv photos x png"
    assert metrics.reason_label("ValueError") == "valueerror"
    for n in range(metrics.MAX_REASONS + 5):
        last = metrics.reason_label(f"reason {'x' * (n % 26)}{chr(97 + n % 26)}{n // 26 * 'q'}: x")
    assert last == "other"


def test_metrics_need_an_admin_key_when_keys_are_on(make_settings, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", api_keys="boss:*:admin,reader:t1:read")
    services = Services(settings)
    try:
        with TestClient(create_app(services=services)) as client:
            assert client.get("/metrics").status_code == 401
            assert client.get("/metrics", headers={"X-API-Key": "reader"}).status_code == 403
            scrape(client, authorization="Bearer boss")
    finally:
        services.close()

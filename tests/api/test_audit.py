"""``/v1/audit/bias`` (admins only) and the scheduled monitoring: records stored, alerts logged
and exported on ``/metrics``. The real app over the tiny CLIP and the real MiniLM, with the
example labelled set ingested as a folder (shape and background in each item's metadata)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.main import create_app
from api.metrics import observe_audit
from examples.bias.make_set import write_ingest_folder
from ingest.runner import ingest_paths
from rag.audit.monitor import Monitor
from rag.config import AuditSettings
from rag.services import Services
from tests.api.conftest import add_item

KEYS = "admin-key:*:admin,tenant-admin:t1:admin,reader-key:*:read,writer-key:*:write"
ADMIN = {"X-API-Key": "admin-key"}
FIELDS = {"group_field": "background", "label_field": "shape"}


@pytest.fixture(scope="module")
def audited(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data = tmp_path_factory.mktemp("audit")
    services = Services(make_settings(data / "data", api_keys=KEYS))
    write_ingest_folder(data / "set")
    ingest_paths(services, [data / "set"])
    yield services
    services.close()


@pytest.fixture(scope="module")
def client(audited: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=audited)) as test_client:
        yield test_client


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_audit_route_refuses_keys_that_are_not_an_admins(client: TestClient, method: str) -> None:
    kwargs = {"json": FIELDS} if method == "POST" else {}
    assert client.request(method, "/v1/audit/bias", **kwargs).status_code == 401
    for key in ("reader-key", "writer-key"):
        refused = client.request(method, "/v1/audit/bias", headers={"X-API-Key": key}, **kwargs)
        assert refused.status_code == 403, refused.text
        assert "needs admin" in refused.json()["message"]


def test_admin_audits_the_collection_by_metadata(client: TestClient) -> None:
    response = client.post("/v1/audit/bias", json={**FIELDS, "k": 5}, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["sampled"], body["items"]) == (24, 24)
    assert body["labels"] == ["circle", "square", "triangle"]
    assert body["groups"] == ["dark", "light"]
    assert [s["signal"] for s in body["signals"]] == ["image", "text", "passage"]
    for signal in body["signals"]:
        assert signal["k"] == 5 and [g["group"] for g in signal["groups"]] == ["dark", "light"]
        assert sum(g["top_k_share"] for g in signal["groups"]) == pytest.approx(1.0)
        assert set(signal["gaps"]) == {"accuracy", "ndcg", "exposure_ratio"}
    assert set(body["weat"]) == {"clip", "passage"}
    assert set(body["models"]) == {"clip", "passage"}
    assert body["quality"]["modality_gap"] is not None


def test_audit_without_fields_or_labels_is_a_400_that_says_what_to_give(
    client: TestClient,
) -> None:
    missing = client.post("/v1/audit/bias", json={}, headers=ADMIN)
    assert missing.status_code == 400
    assert "MMRAG_AUDIT__GROUP_FIELD" in missing.json()["message"]
    unlabelled = client.post(
        "/v1/audit/bias", json={"group_field": "background", "label_field": "nope"}, headers=ADMIN
    )
    assert unlabelled.status_code == 400 and "needs two or more" in unlabelled.json()["message"]
    bad_sets = client.post(
        "/v1/audit/bias", json={**FIELDS, "word_sets": [{"x": []}]}, headers=ADMIN
    )
    assert bad_sets.status_code == 400 and "word_sets" in bad_sets.json()["message"]


def test_a_tenant_admin_audits_its_tenant_only_and_gets_no_history_of_every_tenant(
    client: TestClient,
) -> None:
    tenant_admin = {"X-API-Key": "tenant-admin"}
    response = client.get("/v1/audit/bias", headers=tenant_admin)
    assert response.status_code == 403 and "every tenant" in response.json()["message"]
    own = client.post("/v1/audit/bias", json=FIELDS, headers=tenant_admin)  # t1 has no items
    assert own.status_code == 400 and own.json()["message"].startswith("0 sampled items")


def _written(path: Path) -> bool:
    return path.exists() and path.read_text().endswith("\n")


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_monitoring_run_stores_a_record_and_raises_alerts(
    audited: Services, client: TestClient, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    settings = AuditSettings(**FIELDS, gap_threshold=0.0, drift_threshold=0.0)
    monitor = Monitor(audited, settings, on_record=observe_audit)
    before = _sample("mmrag_audit_alerts_total", {"kind": "gap", "figure": "image.exposure_ratio"})
    with caplog.at_level(logging.WARNING, logger="rag.audit.monitor"):
        first = monitor.run_once()
    lines = monitor.path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["time"] == first["time"]
    gap_alerts = {a["figure"] for a in first["alerts"] if a["kind"] == "gap"}
    assert "image.exposure_ratio" in gap_alerts  # any gap > 0 passes a threshold of 0
    assert not [a for a in first["alerts"] if a["kind"] == "drift"]  # the first run is the baseline
    assert "bias audit alert" in caplog.text and "image.exposure_ratio" in caplog.text
    after = _sample("mmrag_audit_alerts_total", {"kind": "gap", "figure": "image.exposure_ratio"})
    assert after == before + 1
    gap = first["gaps"]["image.exposure_ratio"]
    assert _sample("mmrag_audit_gap", {"figure": "image.exposure_ratio"}) == pytest.approx(gap)

    added = add_item(audited, tmp_path, "a purple star", color=(120, 0, 160))
    try:
        second = monitor.run_once()
    finally:
        audited.store.delete([added])  # the other tests see the example set alone
    drifted = {a["figure"] for a in second["alerts"] if a["kind"] == "drift"}
    assert "mean_pairwise_distance.image" in drifted
    assert second["sampled"] == 25 and len(monitor.path.read_text().splitlines()) == 2
    metrics = client.get("/metrics", headers=ADMIN).text
    assert 'mmrag_audit_alerts_total{figure="mean_pairwise_distance.image",kind="drift"}' in metrics

    history = client.get("/v1/audit/bias", params={"limit": 5}, headers=ADMIN)
    assert history.status_code == 200
    assert [r["time"] for r in history.json()["records"]] == [first["time"], second["time"]]


def test_monitoring_is_off_by_default_and_runs_on_its_schedule(
    make_settings, tmp_path: Path
) -> None:
    assert AuditSettings().interval_s == 0
    audit = {**FIELDS, "interval_s": 0.2}
    services = Services(make_settings(tmp_path / "data", audit=audit))
    write_ingest_folder(tmp_path / "set")
    ingest_paths(services, [tmp_path / "set"])
    path = Monitor(services, services.settings.audit).path
    try:
        with TestClient(create_app(services=services)):
            deadline = time.monotonic() + 60
            while not _written(path) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _written(path)
        record = json.loads(path.read_text().splitlines()[0])
        assert record["items"] == 24 and record["collection"] == "mmrag"
    finally:
        services.close()

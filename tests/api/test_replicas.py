"""Stateless API replicas: replica A accepts a job, replica B (same Redis queue, same shared
folder, its own data folder) reports its progress and serves its pictures. Server paths are
read only under the ingest roots.

Each replica and the worker have their own ``Services``; they share the store through one real
Qdrant Edge store served over a local socket (:mod:`tests.ingest.shared_store`, the stand-in
for a Qdrant server, which cannot run here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from ingest.redis_queue import RedisWorker
from rag.services import Services
from tests.api.conftest import png_bytes
from tests.ingest.draw import captioned_folder
from tests.ingest.shared_store import RemoteStore, served_in_thread


@pytest.fixture
def cluster(
    make_settings, redis_url: str, tmp_path: Path, tiny_embedder
) -> Iterator[tuple[TestClient, TestClient, Path]]:
    shared, roots = tmp_path / "shared", tmp_path / "photos"
    roots.mkdir()
    made: list[Services] = []

    def services(name: str, port: int) -> Services:
        settings = make_settings(
            tmp_path / name,
            shared_dir=shared,
            queue={"url": redis_url, "heartbeat_timeout_s": 5},
            ingest={"roots": [roots], "task_items": 4},
            api={"embedded_worker": False},
        )
        built = Services(settings)
        built.__dict__["store"] = RemoteStore(port)
        built.store.ensure_collection(built.collection_layout)  # the text signals join CLIP's
        made.append(built)
        return built

    with served_in_thread(tmp_path / "store", tiny_embedder.dim) as port:
        worker = RedisWorker(services("worker", port))
        worker.start()
        try:
            with (
                TestClient(create_app(services=services("a", port))) as a,
                TestClient(create_app(services=services("b", port))) as b,
            ):
                yield a, b, roots
        finally:
            worker.stop(timeout_s=10)


def _wait_done(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/ingest/{job_id}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


@pytest.mark.slow
def test_replica_b_reports_the_job_and_serves_the_pictures_replica_a_took(cluster) -> None:
    a, b, _ = cluster
    pictures = [png_bytes((40 * n, 90, 200)) for n in range(3)]
    files = [("files", (f"p{n}.png", data, "image/png")) for n, data in enumerate(pictures)]
    accepted = a.post("/v1/ingest", files=files)
    assert accepted.status_code == 202, accepted.text
    job = _wait_done(b, accepted.json()["job_id"])
    assert job["state"] == "done" and job["progress"]["written"] == 3
    assert accepted.json()["job_id"] in [j["id"] for j in b.get("/v1/ingest").json()["jobs"]]
    hits = b.post("/v1/search", json={"text": "a picture", "top_k": 3}).json()["hits"]
    served = {b.get(f"/v1/items/{hit['id']}/image").content for hit in hits}
    assert served == set(pictures)


@pytest.mark.slow
def test_server_paths_only_under_the_roots(cluster, tmp_path: Path) -> None:
    a, b, roots = cluster
    captioned_folder(roots / "set", 5)
    accepted = a.post("/v1/ingest", json={"paths": [str(roots / "set")]})
    assert accepted.status_code == 202, accepted.text
    job = _wait_done(b, accepted.json()["job_id"])
    assert (job["state"], job["progress"]["written"]) == ("done", 5), job.get("error")
    outside = captioned_folder(tmp_path / "elsewhere", 1)
    (roots / "link").symlink_to(outside)
    for path in (str(outside), str(roots / "link"), "set"):
        refused = a.post("/v1/ingest", json={"paths": [path]})
        assert refused.status_code == 400 and str(roots) in refused.json()["message"], path

"""``POST /v1/ingest`` and ``GET /v1/ingest/{job_id}`` with the embedded worker, and bad uploads."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.conftest import png_bytes

PURPLE, YELLOW = (150, 0, 150), (240, 230, 0)


def wait_for(client: TestClient, job_id: str, timeout_s: float = 60) -> dict:
    """The job once it ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/ingest/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end: {job}")


def search_one(client: TestClient, text: str) -> dict:
    body = {"text": text, "fusion": "weighted", "weights": {"text": 1.0}, "top_k": 1}
    return client.post("/v1/search", json=body).json()["hits"][0]


def test_multipart_ingest_then_search(client: TestClient) -> None:
    response = client.post(
        "/v1/ingest",
        files=[
            ("files", ("plum.png", png_bytes(PURPLE), "image/png")),
            ("files", ("lemon.png", png_bytes(YELLOW), "image/png")),
        ],
        data={
            "texts": ["A purple plum on a plate.", "A yellow lemon on a table.", "Text only."],
            "ids": ["plum", "lemon"],
            "metadata": ['{"fruit": true}', ""],
        },
    )
    accepted = response.json()
    assert response.status_code == 202, accepted
    assert accepted["accepted"] == 3
    assert accepted["rejected"] == []
    job = wait_for(client, accepted["job_id"])
    assert job["state"] == "done", job
    assert job["report"]["written"] == 3
    assert job["progress"]["written"] == 3
    hit = search_one(client, "A purple plum on a plate.")
    assert hit["external_id"] == "plum"
    assert hit["metadata"] == {"fruit": True}
    assert hit["source"] == "plum.png"
    picture = client.get(hit["image_url"])
    assert picture.status_code == 200
    assert picture.content == png_bytes(PURPLE)


def test_json_ingest_with_base64_images(client: TestClient) -> None:
    items = [
        {"image": base64.b64encode(png_bytes((0, 90, 90))).decode(), "text": "A teal tile."},
        {"image": "data:image/png;base64," + base64.b64encode(png_bytes((90, 0, 0))).decode()},
        {"text": "A note about tea.", "id": "tea", "metadata": {"topic": "drinks"}},
    ]
    response = client.post("/v1/ingest", json={"items": items, "policy": "overwrite"})
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["job_id"])
    assert job["report"]["written"] == 3
    assert search_one(client, "A note about tea.")["external_id"] == "tea"


def _jpeg_named_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_bad_files_are_rejected_item_by_item(make_settings, tmp_path) -> None:
    from api.main import create_app

    settings = make_settings(tmp_path / "data", ingest={"max_image_pixels": 10_000})
    files = [
        ("files", ("empty.png", b"", "image/png")),
        ("files", ("corrupt.png", png_bytes()[:40], "image/png")),
        ("files", ("notes.png", b"just some text, not a picture", "image/png")),
        ("files", ("huge.png", png_bytes(size=(200, 200)), "image/png")),
        ("files", ("script.sh", b"#!/bin/sh\necho hi\n", "text/x-sh")),
        ("files", ("really-a-jpeg.png", _jpeg_named_png(), "image/png")),
    ]
    with TestClient(create_app(settings)) as test_client:
        response = test_client.post("/v1/ingest", files=files)
        body = response.json()
        assert response.status_code == 202, body
        rejected = {r["source"]: r for r in body["rejected"]}
        assert set(rejected) == {"empty.png", "corrupt.png", "notes.png", "huge.png", "script.sh"}
        assert "0 bytes" in rejected["empty.png"]["reason"]
        assert "MAX_IMAGE_PIXELS" in rejected["huge.png"]["reason"]
        assert [r["index"] for r in body["rejected"]] == [0, 1, 2, 3, 4]
        assert body["accepted"] == 1  # the extension does not matter; the content does
        assert wait_for(test_client, body["job_id"])["report"]["written"] == 1


def test_every_item_rejected_is_400(client: TestClient) -> None:
    response = client.post("/v1/ingest", files=[("files", ("x.png", b"nope", "image/png"))])
    body = response.json()
    assert response.status_code == 400
    assert body["error"] == "invalid_input"
    assert body["rejected"][0]["source"] == "x.png"


def test_oversized_upload_is_413(make_settings, tmp_path) -> None:
    from api.main import create_app

    settings = make_settings(tmp_path / "data", api={"max_upload_bytes": 50_000})
    big = png_bytes(size=(400, 400)) + b"\0" * 60_000
    with TestClient(create_app(settings)) as test_client:
        response = test_client.post("/v1/ingest", files=[("files", ("big.png", big, "image/png"))])
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"

        def chunks():  # no Content-Length: the cap is counted while reading
            for _ in range(20):
                yield b"x" * 10_000

        headers = {"Content-Type": "application/json"}
        chunked = test_client.post("/v1/ingest", content=chunks(), headers=headers)
        assert chunked.status_code == 413
        assert chunked.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"items": [{"image": "***not base64***"}]}, 400, "items[0].image"),
        ({"items": [{"image": "data:image/png;base64,abc"}]}, 400, "base64"),
        ({"items": []}, 422, "items"),
        ({"items": [{"text": 5}]}, 422, "items.0.text"),
        ({"items": [{"text": "x"}], "policy": "merge"}, 422, "policy"),
        ({}, 422, "items"),
    ],
)
def test_bad_json_ingest(client: TestClient, body: dict, status: int, words: str) -> None:
    response = client.post("/v1/ingest", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["message"]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"data": {"texts": ["x"], "metadata": ["[1, 2]"]}}, "metadata[0]"),
        ({"data": {"texts": ["x"], "metadata": ["{oops"]}}, "metadata[0]"),
        ({"data": {"texts": ["x"], "policy": "merge"}}, "policy"),
        ({"data": {"caption": ["x"]}}, "caption"),
        ({"data": {"files": "not a file"}}, "files[0]"),
        ({"content": b"text", "headers": {"Content-Type": "text/plain"}}, "multipart"),
    ],
)
def test_bad_multipart_ingest(client: TestClient, kwargs: dict, words: str) -> None:
    response = client.post("/v1/ingest", **kwargs)
    assert response.status_code == 400, response.text
    assert words in response.json()["message"]


def test_unknown_job_is_404(client: TestClient) -> None:
    response = client.get("/v1/ingest/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_jobs_are_listed_and_spec_paths_hidden(client: TestClient) -> None:
    response = client.post("/v1/ingest", json={"items": [{"text": "listed"}]})
    job_id = response.json()["job_id"]
    jobs = client.get("/v1/ingest", params={"limit": 5}).json()["jobs"]
    assert jobs[0]["id"] == job_id
    assert "image_path" not in json.dumps(jobs)
    wait_for(client, job_id)
    assert client.delete(f"/v1/ingest/{job_id}").json()["state"] == "done"

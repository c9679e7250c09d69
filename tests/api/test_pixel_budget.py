"""A request's pictures share one decoded-pixel budget, checked from their headers before any
is decoded (``MMRAG_INGEST__MAX_DECODED_PIXELS``): small files of huge dimensions are a 413."""

from __future__ import annotations

import base64
import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.conftest import png_bytes
from tests.peak_rss import MB, PeakRss

SIDE = 6000
"""36 MP each: under the per-picture cap (40 MP), about 108 MB each once decoded to RGB."""


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """A 6000x6000 one-bit PNG of a few KiB."""
    buffer = io.BytesIO()
    Image.new("1", (SIDE, SIDE)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 64 * 1024
    return buffer.getvalue()


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_embed_image_refuses_huge_pictures_past_the_budget_before_decoding(
    client: TestClient, huge_png: bytes
) -> None:
    files = [("files", (f"big{n}.png", huge_png, "image/png")) for n in range(8)]
    with PeakRss() as peak:
        started = time.monotonic()
        response = client.post("/v1/embed/image", files=files)
        elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"] == "payload_too_large"
    # 5 x 36 MP fit the default 200 MP; the sixth is the one that does not
    assert "big5.png" in body["message"]
    assert "MMRAG_INGEST__MAX_DECODED_PIXELS" in body["message"]
    assert elapsed < 5
    assert peak.growth < 100 * MB, f"peak RSS grew by {peak.growth / MB:.0f} MB"


def test_chat_completions_refuses_huge_pictures_past_the_budget_before_decoding(
    client: TestClient, huge_png: bytes
) -> None:
    parts = [{"type": "text", "text": "what is this?"}]
    parts += [{"type": "image_url", "image_url": {"url": _data_url(huge_png)}}] * 8
    with PeakRss() as peak:
        started = time.monotonic()
        response = client.post(
            "/v1/chat/completions",
            json={"model": "mmrag", "messages": [{"role": "user", "content": parts}]},
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text
    assert "messages[-1].content[6].image_url" in response.json()["message"]
    assert elapsed < 5
    assert peak.growth < 100 * MB, f"peak RSS grew by {peak.growth / MB:.0f} MB"


def test_ollama_chat_refuses_huge_pictures_past_the_budget(
    client: TestClient, huge_png: bytes
) -> None:
    images = [base64.b64encode(huge_png).decode()] * 8
    message = {"role": "user", "content": "what is this?", "images": images}
    response = client.post("/api/chat", json={"model": "mmrag", "messages": [message]})
    assert response.status_code == 413, response.text
    assert "messages[-1].images[5]" in response.json()["message"]


def test_pictures_within_the_budget_are_decoded_one_at_a_time(
    client: TestClient, huge_png: bytes
) -> None:
    small = ("files", ("small.png", png_bytes(), "image/png"))
    assert client.post("/v1/embed/image", files=[small]).status_code == 200  # the model is warm
    files = [("files", (f"big{n}.png", huge_png, "image/png")) for n in range(5)] + [small]
    with PeakRss() as peak:
        response = client.post("/v1/embed/image", files=files)
    assert response.status_code == 200, response.text
    assert len(response.json()["embeddings"]) == 6
    # Pillow holds a decoded 36 MP picture in 144 MB (4 bytes a pixel), ~320 MB at its peak
    # while converting and resizing; all five at once: over 700 MB
    assert peak.growth < 450 * MB, f"peak RSS grew by {peak.growth / MB:.0f} MB"


def test_chat_completions_decodes_only_its_last_picture(
    client: TestClient, huge_png: bytes
) -> None:
    parts = [{"type": "image_url", "image_url": {"url": _data_url(huge_png)}}] * 3
    parts.append({"type": "image_url", "image_url": {"url": _data_url(png_bytes())}})
    with PeakRss() as peak:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "mmrag", "messages": [{"role": "user", "content": parts}]},
        )
    assert response.status_code == 200, response.text
    assert peak.growth < 100 * MB, f"peak RSS grew by {peak.growth / MB:.0f} MB"


def test_a_bad_picture_among_many_is_a_400_that_names_it(
    client: TestClient, huge_png: bytes
) -> None:
    files = [("files", ("ok.png", png_bytes(), "image/png"))]
    files.append(("files", ("broken.png", huge_png[:40], "image/png")))
    response = client.post("/v1/embed/image", files=files)
    assert response.status_code == 400, response.text
    assert "broken.png" in response.json()["message"]

"""``/v1/embed/text``, ``/v1/embed/image`` and ``/v1/similarity`` over the tiny CLIP."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from tests.api.conftest import png_bytes


def test_embed_text_returns_unit_vectors(client: TestClient) -> None:
    response = client.post("/v1/embed/text", json={"texts": ["a red square", "a blue circle"]})
    body = response.json()
    assert response.status_code == 200, body
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (2, body["dim"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert body["truncated"] == [False, False]


def test_embed_text_rejects_empty_list(client: TestClient) -> None:
    response = client.post("/v1/embed/text", json={"texts": []})
    assert response.status_code == 422
    assert "texts" in response.json()["message"]


def test_embed_image_takes_several_files(client: TestClient) -> None:
    files = [("files", ("a.png", png_bytes((255, 0, 0)), "image/png"))] * 2
    response = client.post("/v1/embed/image", files=files)
    body = response.json()
    assert response.status_code == 200, body
    assert len(body["embeddings"]) == 2
    assert body["embeddings"][0] == body["embeddings"][1]


def test_embed_image_refuses_corrupt_file(client: TestClient) -> None:
    response = client.post("/v1/embed/image", files=[("files", ("x.png", b"nope", "image/png"))])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert "x.png" in response.json()["message"]


def test_embed_image_without_files_names_the_field(client: TestClient) -> None:
    response = client.post("/v1/embed/image")
    assert response.status_code == 422
    assert "files" in response.json()["message"]


def test_similarity_scores_each_text(client: TestClient) -> None:
    response = client.post(
        "/v1/similarity",
        files={"image": ("red.png", png_bytes(), "image/png")},
        data={"text": ["a red square", "a dog"]},
    )
    body = response.json()
    assert response.status_code == 200, body
    assert [s["text"] for s in body["scores"]] == ["a red square", "a dog"]
    assert abs(sum(s["probability"] for s in body["scores"]) - 1.0) < 1e-5
    assert all(-1.0 <= s["score"] <= 1.0 for s in body["scores"])

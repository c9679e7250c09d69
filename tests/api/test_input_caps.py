"""Bad classify templates are a 400, and request work is capped (templates, text lengths)."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from rag.classify import MAX_TEMPLATES
from tests.api.conftest import png_bytes

IMAGE = base64.b64encode(png_bytes()).decode()


def _classify(client: TestClient, templates: list[str]):
    body = {"image": IMAGE, "labels": ["cat", "dog"], "templates": templates}
    return client.post("/v1/classify", json=body)


def test_a_template_without_braces_is_a_400(client: TestClient) -> None:
    response = _classify(client, ["a photo"])
    assert response.status_code == 400, response.text
    assert "{}" in response.json()["message"]
    multipart = client.post(
        "/v1/classify",
        files={"image": ("a.png", png_bytes(), "image/png")},
        data={"labels": ["cat", "dog"], "templates": ["{} and {}"]},
    )
    assert multipart.status_code == 400


def test_too_many_templates_is_a_400(client: TestClient) -> None:
    response = _classify(client, [f"photo {n} of a {{}}" for n in range(MAX_TEMPLATES + 1)])
    assert response.status_code == 400 and "templates" in response.json()["message"]
    assert _classify(client, ["a photo of a {}."]).status_code == 200


def test_embed_text_length_is_capped(client: TestClient) -> None:
    response = client.post("/v1/embed/text", json={"texts": ["x" * 10_001]})
    assert response.status_code == 422
    assert client.post("/v1/embed/text", json={"texts": ["x" * 10_000]}).status_code == 200
    similarity = client.post(
        "/v1/similarity",
        files={"image": ("a.png", png_bytes(), "image/png")},
        data={"text": ["x" * 10_001]},
    )
    assert similarity.status_code == 400

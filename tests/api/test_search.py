"""``POST /v1/search`` through the real app, tiny CLIP and embedded Qdrant Edge."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from rag.services import Services
from tests.api.conftest import add_item, png_bytes

RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture(scope="module")
def items(services: Services, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pictures")
    return {
        "red": add_item(services, folder, "a red square on a mat", RED, {"kind": "shape"}),
        "blue": add_item(services, folder, "a blue circle in the sky", BLUE, {"kind": "shape"}),
        "note": add_item(services, folder, "a recipe for lemon cake", None, {"kind": "text"}),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_text_search_finds_the_item_and_its_scores(client: TestClient, items) -> None:
    body = {"text": "a recipe for lemon cake", "top_k": 2, "fusion": "weighted"}
    response = client.post("/v1/search", json=body)
    body = response.json()
    assert response.status_code == 200, body
    top = body["hits"][0]
    assert top["id"] == items["note"]
    assert top["scores"]["text"] == pytest.approx(1.0, abs=1e-4)
    assert top["scores"]["image"] is None
    assert top["image_url"] is None
    assert len(body["hits"]) == 2


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_image_search_finds_the_picture(client: TestClient, items, prefix: str) -> None:
    body = {"image": prefix + _b64(png_bytes(BLUE)), "fusion": "weighted", "top_k": 1}
    hit = client.post("/v1/search", json=body).json()["hits"][0]
    assert hit["id"] == items["blue"]
    assert hit["scores"]["image"] == pytest.approx(1.0, abs=1e-4)
    assert hit["image_url"] == f"/v1/items/{items['blue']}/image"


@pytest.mark.parametrize("fusion", ["rrf", "dbsf", "weighted"])
def test_text_and_image_with_each_fusion(client: TestClient, items, fusion: str) -> None:
    body = {"text": "a red square on a mat", "image": _b64(png_bytes(RED)), "fusion": fusion}
    hits = client.post("/v1/search", json=body).json()["hits"]
    assert hits[0]["id"] == items["red"]
    assert set(hits[0]["scores"]) == {"image", "text", "passage", "lexical", "fused", "rerank"}


def test_filter_and_weights(client: TestClient, items) -> None:
    body = {
        "text": "a recipe for lemon cake",
        "filter": ["metadata.kind=shape"],
        "weights": {"image": 0.2, "text": 0.8},
        "fusion": "weighted",
    }
    hits = client.post("/v1/search", json=body).json()["hits"]
    assert {hit["id"] for hit in hits} == {items["red"], items["blue"]}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 400, "text, an image"),
        ({"text": "   "}, 400, "text, an image"),
        ({"image": "not base64!!"}, 400, "base64"),
        ({"image": _b64(b"plain text, not a picture")}, 400, "image"),
        ({"text": "x", "top_k": 10_000}, 400, "top_k"),
        ({"text": "x", "top_k": 0}, 422, "top_k"),
        ({"text": "x", "fusion": "magic"}, 422, "fusion"),
        ({"text": "x", "filter": "year>>3"}, 400, "filter"),
        ({"text": "x", "weights": {"colour": 1}}, 400, "weight"),
        ({"text": "x", "signals": ["colour"]}, 422, "signals"),
        ({"text": "x", "signals": []}, 400, "at least one signal"),
        ({"image": _b64(png_bytes(RED)), "signals": ["text", "lexical"]}, 400, "lexical"),
        ({"text": "x" * 5000}, 400, "MAX_QUESTION_CHARS"),
    ],
)
def test_bad_searches(client: TestClient, items, body: dict, status: int, words: str) -> None:
    response = client.post("/v1/search", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["message"]


def test_invalid_json_names_the_problem(client: TestClient) -> None:
    response = client.post(
        "/v1/search", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "JSON" in response.json()["message"]


def test_signals_choose_what_is_searched(client: TestClient, items) -> None:
    body = {"text": "a red square on a mat", "signals": ["text"], "fusion": "weighted"}
    hits = client.post("/v1/search", json=body).json()["hits"]
    assert hits and all(hit["scores"]["image"] is None for hit in hits)
    assert all(hit["scores"]["fused"] == pytest.approx(hit["scores"]["text"]) for hit in hits)

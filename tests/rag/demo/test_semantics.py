"""The offline demo model understands its world, through every layer: ingest -> store ->
fusion -> API, classification, moderation, answers and the quality report."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from ingest.runner import ingest_paths
from rag.classify import ZeroShotClassifier
from rag.config import ClipSettings, ModerationSettings, Settings
from rag.demo.collection import SampleItem, write_sample_collection
from rag.demo.scenes import Group, Scene, draw_scene
from rag.moderation import Moderator
from rag.quality import collect_vectors, quality_report
from rag.retrieval.types import Query
from rag.services import Services
from rag.training import read_training_info

SHORT = ("a {}",)
"""The demo model learned short phrases ("a red circle"), not photo prompts."""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[SampleItem]:
    return write_sample_collection(tmp_path_factory.mktemp("sample"), count=40, seed=1)


@pytest.fixture(scope="module")
def services(
    demo_clip: ClipSettings, sample: list[SampleItem], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("data"),
        clip=demo_clip,
        rerank={"model": "none"},
        llm={"backend": "extractive"},
    )
    built = Services(settings)
    ingest_paths(built, [sample[0].image_path.parent])
    yield built
    built.close()


@pytest.fixture(scope="module")
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as test_client:
        yield test_client


def _png(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _single(colour: str, shape: str, seed: int = 1) -> Scene:
    return Scene(Group(1, "large", colour, shape), None, None, "white", seed)


def test_training_reached_a_useful_held_out_recall(demo_model_dir: Path) -> None:
    recall = read_training_info(demo_model_dir)["held_out_recall"]
    assert recall["t2i@1"] >= 0.5 and recall["t2i@5"] >= 0.85


def test_a_caption_finds_its_picture_first_through_the_api(
    client: TestClient, sample: list[SampleItem]
) -> None:
    for item in sample[:10]:
        response = client.post("/v1/search", json={"text": item.scene.caption(), "top_k": 3})
        assert response.status_code == 200
        assert response.json()["hits"][0]["external_id"] == item.id, item.scene.caption()


def test_a_redrawn_picture_finds_its_item_first(
    client: TestClient, sample: list[SampleItem]
) -> None:
    for item in sample[:5]:
        picture = _png(draw_scene(item.scene, 96))
        hits = client.post("/v1/search", json={"image": picture, "top_k": 3}).json()["hits"]
        assert hits[0]["external_id"] == item.id


def test_answers_cite_the_picture_the_question_is_about(
    services: Services, sample: list[SampleItem]
) -> None:
    item = next(i for i in sample if i.scene.second is not None)
    answer = services.answerer.answer(Query(text=item.scene.questions()[1], top_k=3))
    assert answer.hits[0].payload["external_id"] == item.id


def test_zero_shot_classification_names_colour_and_shape(demo_embedder, client) -> None:
    labels = ["red circle", "blue square", "green triangle", "yellow diamond"]
    classifier = ZeroShotClassifier(demo_embedder, SHORT)
    for colour, shape in (("red", "circle"), ("blue", "square"), ("green", "triangle")):
        result = classifier.classify(draw_scene(_single(colour, shape), 128), labels)
        assert result.top.label == f"{colour} {shape}"
        assert sum(score.probability for score in result.labels) == pytest.approx(1.0)
    body = {
        "image": _png(draw_scene(_single("yellow", "diamond"), 128)),
        "labels": labels,
        "templates": list(SHORT),
    }
    assert client.post("/v1/classify", json=body).json()["label"] == "yellow diamond"


def test_moderation_flags_the_configured_unsafe_category(demo_embedder) -> None:
    settings = ModerationSettings(unsafe=["red circle"], safe=["blue square", "green triangle"])
    moderator = Moderator(demo_embedder, settings, SHORT)
    unsafe = moderator.check(draw_scene(_single("red", "circle"), 128))
    assert not unsafe.is_safe and [f.category for f in unsafe.flagged] == ["red circle"]
    safe = moderator.check(draw_scene(_single("blue", "square"), 128))
    assert safe.is_safe and safe.flagged == [] and safe.confidence > 0.5


def test_quality_report_sees_captions_closer_to_their_pictures(services: Services) -> None:
    report = quality_report(collect_vectors(services.store))
    assert report.pairs == 40
    assert report.paired_cosine > report.unpaired_cosine + 0.1
    assert report.near_duplicate_count["image"] == 0

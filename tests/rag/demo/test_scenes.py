"""Synthetic scenes and the sample collection: seeded, grammatical, drawn where the words say."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rag.demo.collection import sample_scenes, write_sample_collection
from rag.demo.scenes import (
    BACKGROUNDS,
    COLOURS,
    Group,
    Scene,
    _layout,
    draw_scene,
    random_scene,
)


def test_the_same_seed_gives_the_same_scenes_and_pixels() -> None:
    first = [random_scene(random.Random(7)) for _ in range(3)]
    again = [random_scene(random.Random(7)) for _ in range(3)]
    assert first == again
    assert np.array_equal(
        np.asarray(draw_scene(first[0], 64)), np.asarray(draw_scene(again[0], 64))
    )


def test_captions_read_naturally() -> None:
    scene = Scene(
        Group(2, "small", "red", "circle"), "above", Group(1, "", "blue", "square"), "white", 1
    )
    assert scene.caption() == "two small red circles above a blue square on a white background"
    single = Scene(Group(1, "large", "orange", "diamond"), None, None, "black", 2)
    assert single.caption() == "a large orange diamond on a black background"
    assert "an orange diamond" in single.phrases()
    assert scene.description().startswith("Two small red circles above a blue square")
    assert "how many red circles are above the blue square?" in scene.questions()


@pytest.mark.parametrize("relation", ["above", "below", "left of", "right of"])
def test_the_first_group_is_drawn_where_the_relation_says(relation: str) -> None:
    for seed in range(20):
        scene = Scene(
            Group(3, "large", "red", "triangle"),
            relation,
            Group(1, "", "blue", "circle"),
            "gray",
            seed,
        )
        *group, second = _layout(scene)
        axis = 1 if relation in ("above", "below") else 0
        first_centre = np.mean([shape[2 + axis] for shape in group])
        before = relation in ("above", "left of")
        assert (first_centre < second[2 + axis]) == before
        for _, _, x, y, half in _layout(scene):
            assert half <= x <= 1 - half and half <= y <= 1 - half


def test_pictures_show_the_named_colours_on_the_named_background() -> None:
    scene = Scene(Group(1, "large", "green", "square"), None, None, "black", 3)
    pixels = np.asarray(draw_scene(scene, 64)).reshape(-1, 3)
    colours = {tuple(p) for p in pixels}
    assert BACKGROUNDS["black"] in colours and COLOURS["green"] in colours
    assert np.mean(np.all(pixels == BACKGROUNDS["black"], axis=1)) > 0.7


def test_sample_collection_is_distinct_and_rewrites_nothing_the_second_time(tmp_path: Path) -> None:
    captions = [scene.caption() for scene in sample_scenes(60, seed=3)]
    assert len(set(captions)) == 60
    items = write_sample_collection(tmp_path, count=12, size=48)
    sidecar = json.loads((tmp_path / "scene-0001.json").read_text())
    assert sidecar["id"] == "scene-0001" and sidecar["metadata"]["caption"] == captions_of(items)[0]
    assert sidecar["text"].lower().startswith(sidecar["metadata"]["caption"])
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    write_sample_collection(tmp_path, count=12, size=48)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps
    write_sample_collection(tmp_path, count=10, size=48)
    assert len(list(tmp_path.glob("*.png"))) == 10 and len(list(tmp_path.glob("*.json"))) == 10


def captions_of(items) -> list[str]:
    return [item.scene.caption() for item in items]

"""Training inputs match what the embedder sees, and streams are seeded."""

from __future__ import annotations

import random

import numpy as np
import open_clip
import torch

from rag.demo.model import DEMO_SETTINGS, DRAW_SIZE, renderer_for
from rag.demo.stream import TextMix, held_out_scenes, scene_batches
from rag.embedding.loading import load_clip


def test_renderer_pixels_equal_the_embedders_preprocessing(tmp_path) -> None:
    clip = load_clip(DEMO_SETTINGS, tmp_path)
    renderer = renderer_for(clip)
    scenes = held_out_scenes(4, seed=0)
    from rag.embedding.images import preprocess_batch

    expected = preprocess_batch(clip.preprocess, [renderer.image(s) for s in scenes], 64)
    assert renderer.draw_size == DRAW_SIZE
    np.testing.assert_allclose(renderer.pixels(scenes).numpy(), expected, atol=1e-5)


def test_batches_are_seeded_and_texts_follow_the_mix(tmp_path) -> None:
    clip = load_clip(DEMO_SETTINGS, tmp_path)
    tokenizer = open_clip.get_tokenizer("mmrag-demo")

    def run(seed: int) -> torch.Tensor:
        stream = scene_batches(renderer_for(clip), tokenizer, 4, seed, TextMix(0.5, 0.2, 0.1))
        return next(stream).ids

    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))
    scene = held_out_scenes(1, seed=5)[0]
    rng = random.Random(0)
    texts = {TextMix(1.0).pick(scene, rng) for _ in range(5)}
    assert texts == {scene.description()}
    assert TextMix().pick(scene, rng) == scene.caption()
    assert TextMix(0, 0, 1.0).pick(scene, rng) in scene.questions()

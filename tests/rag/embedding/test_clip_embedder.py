"""The CLIP embedder on the tiny random-weight model: shapes, norms, batching, inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.embedding import ClipEmbedder, Embedder, load_embedder, tiny_clip_settings
from rag.errors import InvalidInputError


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    return [
        rgb,
        rgb.convert("RGBA"),
        rgb.convert("P"),
        rgb.convert("L"),
        Image.new("1", (1, 1)),
        Image.new("RGB", (300, 20), "red"),
    ]


def test_is_an_embedder_with_lazy_load(tmp_path) -> None:
    embedder = ClipEmbedder(tiny_clip_settings(), tmp_path)
    assert embedder.model_id == "mmrag-tiny/random-seed0"
    assert embedder._clip is None
    embedder.warm_up()
    assert isinstance(embedder, Embedder)
    assert (embedder.dim, embedder.context_length) == (32, 77)
    assert embedder.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)


def test_vectors_are_float32_unit_rows(tiny_embedder) -> None:
    for vectors in (
        tiny_embedder.embed_texts(["a red square", "", "dog"]),
        tiny_embedder.embed_images(_images()),
    ):
        assert vectors.dtype == np.float32
        assert vectors.shape[1] == 32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_inputs_give_empty_arrays(tiny_embedder) -> None:
    assert tiny_embedder.embed_texts([]).shape == (0, 32)
    assert tiny_embedder.embed_images([]).shape == (0, 32)
    assert tiny_embedder.preprocess_images([]).shape == (0, 3, 32, 32)
    assert tiny_embedder.encode_texts([]).truncated == []


def test_non_images_and_non_texts_are_rejected(tiny_embedder) -> None:
    with pytest.raises(InvalidInputError, match="not a PIL image"):
        tiny_embedder.embed_images([b"png bytes"])
    with pytest.raises(InvalidInputError, match="not a str"):
        tiny_embedder.embed_texts([3])
    with pytest.raises(InvalidInputError, match="list"):
        tiny_embedder.embed_texts("a bare string")
    with pytest.raises(InvalidInputError, match="preprocess_images"):
        tiny_embedder.embed_pixels(np.zeros((2, 3, 8, 8), dtype=np.float32))


def test_load_embedder_returns_one_instance_per_settings(tmp_path) -> None:
    first = load_embedder(tiny_clip_settings(), tmp_path)
    assert load_embedder(tiny_clip_settings(), tmp_path) is first
    assert load_embedder(tiny_clip_settings(seed=1), tmp_path) is not first


def test_batches_give_the_same_vectors_as_one_batch(tmp_path) -> None:
    texts = [f"item number {i} " * (i + 1) for i in range(10)]
    images = (_images() * 2)[:10]
    small = ClipEmbedder(tiny_clip_settings().model_copy(update={"batch_size": 3}), tmp_path)
    large = ClipEmbedder(tiny_clip_settings().model_copy(update={"batch_size": 64}), tmp_path)
    np.testing.assert_allclose(small.embed_texts(texts), large.embed_texts(texts), atol=1e-5)
    np.testing.assert_allclose(small.embed_images(images), large.embed_images(images), atol=1e-5)


def test_pixels_path_equals_images_path(tiny_embedder) -> None:
    images = _images()
    pixels = tiny_embedder.preprocess_images(images)
    assert pixels.dtype == np.float32 and pixels.shape == (len(images), 3, 32, 32)
    np.testing.assert_allclose(
        tiny_embedder.embed_pixels(pixels), tiny_embedder.embed_images(images), atol=1e-6
    )


def test_concurrent_first_use_loads_one_model(tmp_path) -> None:
    embedder = ClipEmbedder(tiny_clip_settings(seed=3), tmp_path)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: embedder.embed_texts(["a cat"]), range(4)))
        loads = pool.map(lambda _: id(load_embedder(tiny_clip_settings(), tmp_path)), range(8))
        instances = set(loads)
    assert all(np.array_equal(results[0], r) for r in results)
    assert len(instances) == 1


@pytest.mark.slow
def test_random_weights_are_the_same_in_another_process(tiny_embedder) -> None:
    code = (
        "from rag.embedding import load_embedder, tiny_clip_settings\n"
        "print(load_embedder(tiny_clip_settings(), '.').embed_texts(['a cat']).tolist())"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    other = np.array(json.loads(out.stdout.strip().splitlines()[-1]), dtype=np.float32)
    np.testing.assert_allclose(other, tiny_embedder.embed_texts(["a cat"]), atol=1e-6)

"""The CLIP embedder on the tiny random-weight model: shapes, norms, batching, inputs."""

from __future__ import annotations

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

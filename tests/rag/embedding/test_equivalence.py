"""mmrag's vectors equal open_clip's own pipeline on the same seeded tiny model."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from rag.embedding import TINY_MODEL

TEXTS = ["", "a dog", "a photo of a red square on a white table " * 3, "word " * 200]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return [
        photo,
        photo.resize((17, 300)),
        photo.convert("L"),
        Image.fromarray(rng.integers(0, 255, (32, 32, 4), dtype=np.uint8), "RGBA"),
        Image.new("RGB", (1, 1), "blue"),
    ]


@pytest.fixture(scope="module")
def reference():
    """open_clip's model, preprocessing and tokenizer, seeded as mmrag seeds random weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, _, preprocess = open_clip.create_model_and_transforms(TINY_MODEL)
    return model.eval(), preprocess, open_clip.get_tokenizer(TINY_MODEL)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_image_vectors_match_open_clip(tiny_embedder, reference) -> None:
    model, preprocess, _ = reference
    images = _images()
    with torch.inference_mode():
        pixels = torch.stack([preprocess(image) for image in images])
        expected = model.encode_image(pixels, normalize=True).numpy()
    assert _cosines(tiny_embedder.embed_images(images), expected).min() >= 0.9999


def test_preprocessing_matches_open_clip(tiny_embedder, reference) -> None:
    _, preprocess, _ = reference
    images = _images()
    expected = torch.stack([preprocess(image) for image in images]).numpy()
    np.testing.assert_allclose(tiny_embedder.preprocess_images(images), expected, atol=1e-5)


def test_text_vectors_match_open_clip(tiny_embedder, reference) -> None:
    model, _, tokenizer = reference
    with torch.inference_mode():
        expected = model.encode_text(tokenizer(TEXTS), normalize=True).numpy()
    assert _cosines(tiny_embedder.embed_texts(TEXTS), expected).min() >= 0.9999

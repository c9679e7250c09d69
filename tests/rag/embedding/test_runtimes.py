"""The int8 and onnx runtimes agree with fp32 torch; ONNX exports are cached by weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.config import ClipSettings
from rag.embedding import ClipEmbedder, tiny_clip_settings
from rag.embedding.backends import EncoderBackend, TorchBackend, build_backend, quantize_int8
from rag.embedding.images import preprocess_batch
from rag.embedding.loading import load_clip
from rag.embedding.onnx_runtime import OnnxBackend, export_folder
from rag.errors import ConfigError

TEXTS = ["", "a dog", "a photo of two cats sleeping on a red sofa " * 2, "long " * 100]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(2)
    return [
        Image.fromarray(rng.integers(0, 255, (40 + 9 * i, 50, 3), dtype=np.uint8)) for i in range(5)
    ]


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime-cache")


@pytest.mark.parametrize("runtime", ["int8", "onnx"])
def test_runtime_agrees_with_fp32(tiny_embedder, cache: Path, runtime: str) -> None:
    settings = tiny_clip_settings().model_copy(update={"runtime": runtime})
    fast = ClipEmbedder(settings, cache)
    assert _min_cosine(fast.embed_texts(TEXTS), tiny_embedder.embed_texts(TEXTS)) >= 0.99
    images = _images()
    assert _min_cosine(fast.embed_images(images), tiny_embedder.embed_images(images)) >= 0.99
    assert fast.encode_texts(TEXTS).truncated == [False, False, False, True]
    assert fast.embed_texts([]).shape == (0, 32)
    assert fast.embed_images(images[:1]).shape == (1, 32)


def test_onnx_export_is_reused_and_keyed_by_weights(cache: Path, monkeypatch) -> None:
    settings = tiny_clip_settings().model_copy(update={"runtime": "onnx"})
    ClipEmbedder(settings, cache).embed_texts(["warm"])  # exported (or already cached) here
    clip = load_clip(tiny_clip_settings(), cache)
    folder = export_folder(clip, cache)
    assert (folder / "image.onnx").is_file() and (folder / "text.onnx").is_file()

    def no_export(*_args) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr("rag.embedding.onnx_runtime.export_towers", no_export)
    ClipEmbedder(settings, cache).embed_texts(["cached"])
    other = load_clip(tiny_clip_settings(seed=5), cache)
    assert export_folder(other, cache) != folder


def test_int8_on_a_gpu_device_is_a_config_error(tmp_path: Path) -> None:
    settings = tiny_clip_settings().model_copy(update={"runtime": "int8", "device": "cuda"})
    clip = load_clip(tiny_clip_settings(), tmp_path)
    with pytest.raises(ConfigError, match="MMRAG_CLIP__DEVICE"):
        build_backend(settings, clip, tmp_path)


@pytest.mark.slow
def test_runtimes_agree_on_vit_b_32_architecture(tmp_path: Path) -> None:
    settings = ClipSettings(model="ViT-B-32", pretrained="", threads=1)
    clip = load_clip(settings, tmp_path)
    pixels = preprocess_batch(clip.preprocess, _images()[:3], clip.image_size)
    tokens = clip.tokenizer.tokenize(TEXTS)

    def vectors(backend: EncoderBackend) -> np.ndarray:
        both = np.concatenate([backend.encode_pixels(pixels), backend.encode_tokens(tokens)])
        return both / np.linalg.norm(both, axis=1, keepdims=True)

    reference = vectors(TorchBackend(clip.model))
    assert _min_cosine(vectors(OnnxBackend.for_model(clip, tmp_path, settings)), reference) >= 0.99
    assert _min_cosine(vectors(TorchBackend(quantize_int8(clip.model))), reference) >= 0.99

"""The int8 and onnx runtimes agree with fp32 torch; ONNX exports are cached by weights; ``auto``
takes ONNX on CPU only when it agrees, torch otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.config import ClipSettings
from rag.embedding import ClipEmbedder, onnx_runtime, tiny_clip_settings
from rag.embedding.backends import EncoderBackend, build_backend
from rag.embedding.images import preprocess_batch
from rag.embedding.loading import load_clip
from rag.embedding.onnx_runtime import AGREEMENT_FILE, OnnxBackend, export_folder
from rag.embedding.torch_runtime import TorchBackend, quantize_int8
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


def _no_export(*_args) -> None:
    raise AssertionError("exported again")


def test_onnx_export_is_reused_and_keyed_by_weights(cache: Path, monkeypatch, tmp_path) -> None:
    settings = tiny_clip_settings().model_copy(update={"runtime": "onnx"})
    ClipEmbedder(settings, cache).embed_texts(["warm"])  # exported (or already cached) here
    clip = load_clip(tiny_clip_settings(), cache)
    folder = export_folder(clip, cache / "onnx")
    assert (folder / "image.onnx").is_file() and (folder / "text.onnx").is_file()

    monkeypatch.setattr("rag.embedding.onnx_runtime.export_towers", _no_export)
    ClipEmbedder(settings, cache).embed_texts(["cached"])
    elsewhere = ClipEmbedder(settings, tmp_path / "other-cache")  # copied, not exported again
    assert elsewhere.embed_texts(["copied"]).shape == (1, 32)
    assert (export_folder(clip, tmp_path / "other-cache" / "onnx") / "text.onnx").is_file()
    other = load_clip(tiny_clip_settings(seed=5), cache)
    assert export_folder(other, cache / "onnx") != folder


def test_export_dir_setting_moves_the_exports(cache: Path, tmp_path: Path) -> None:
    settings = tiny_clip_settings().model_copy(update={"runtime": "onnx", "export_dir": tmp_path})
    ClipEmbedder(settings, cache).embed_texts(["warm"])
    clip = load_clip(tiny_clip_settings(), cache)
    assert (export_folder(clip, tmp_path) / "text.onnx").is_file()


def test_auto_runs_onnx_on_cpu_and_records_its_agreement(cache: Path) -> None:
    clip = load_clip(tiny_clip_settings(), cache)
    backend = build_backend(tiny_clip_settings(), clip, cache)
    assert isinstance(backend, OnnxBackend)
    recorded = (backend.folder / AGREEMENT_FILE).read_text()
    assert float(recorded.split(":")[1].strip(" }")) >= 0.9999


def test_auto_runs_torch_on_a_gpu_device(cache: Path) -> None:
    clip = load_clip(tiny_clip_settings(), cache)
    settings = tiny_clip_settings().model_copy(update={"device": "cuda"})
    assert isinstance(build_backend(settings, clip, cache), TorchBackend)


def test_auto_falls_back_to_torch_when_the_export_fails(tmp_path: Path, monkeypatch, caplog):
    def broken(*_args) -> None:
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_runtime, "_exported", {})
    monkeypatch.setattr(onnx_runtime, "export_towers", broken)
    clip = load_clip(tiny_clip_settings(seed=3), tmp_path)
    backend = build_backend(tiny_clip_settings(seed=3), clip, tmp_path)
    assert isinstance(backend, TorchBackend)
    assert "unsupported operator" in caplog.text


def test_auto_falls_back_to_torch_when_onnx_disagrees(cache: Path, monkeypatch, caplog) -> None:
    clip = load_clip(tiny_clip_settings(), cache)
    build_backend(tiny_clip_settings(), clip, cache)  # exported and checked
    folder = export_folder(clip, cache / "onnx")
    (folder / AGREEMENT_FILE).write_text('{"min_cosine": 0.98}')
    try:
        assert isinstance(build_backend(tiny_clip_settings(), clip, cache), TorchBackend)
        assert "0.980000" in caplog.text
    finally:
        (folder / AGREEMENT_FILE).unlink()


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

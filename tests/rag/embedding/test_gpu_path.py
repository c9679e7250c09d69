"""The GPU path, run on CPU: device JPEG decode + preprocessing, autocast, pinned copies, sizes."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rag.embedding import ClipEmbedder, Embedder, tiny_clip_settings
from rag.embedding import clip as clip_module
from rag.embedding.backends import build_backend
from rag.embedding.gpu import (
    batch_size_of,
    decode_jpegs,
    decodes_on_device,
    precision_of,
    preprocesses_on_device,
    to_device,
)
from rag.embedding.loading import load_clip
from rag.embedding.torch_runtime import TorchBackend
from rag.errors import InvalidInputError, UndecodableImagesError


def _jpegs(n: int = 4) -> list[bytes]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        base = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)  # smooth: JPEG keeps it close
        picture = Image.fromarray(base).resize((60 + 13 * i, 45 + 7 * i), Image.BILINEAR)
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=95)
        out.append(buffer.getvalue())
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_defaults_turn_the_gpu_path_on_for_cuda_only() -> None:
    cpu, cuda = tiny_clip_settings(), tiny_clip_settings().model_copy(update={"device": "cuda"})
    assert (precision_of(cpu), decodes_on_device(cpu), batch_size_of(cpu)) == ("fp32", False, 8)
    assert (precision_of(cuda), decodes_on_device(cuda), batch_size_of(cuda)) == ("bf16", True, 256)


def test_device_decode_matches_pil_decode() -> None:
    datas = _jpegs()
    decoded = decode_jpegs(datas, torch.device("cpu"))
    for data, tensor in zip(datas, decoded, strict=True):
        pil = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).transpose(2, 0, 1)
        assert tensor.shape == pil.shape and tensor.dtype == torch.uint8
        assert np.abs(tensor.numpy().astype(int) - pil.astype(int)).mean() < 2.0


def test_embed_jpegs_agrees_with_the_pil_path(tmp_path: Path) -> None:
    settings = tiny_clip_settings().model_copy(update={"runtime": "torch", "decode": "device"})
    embedder = ClipEmbedder(settings, tmp_path)
    datas = _jpegs(5)
    device_path = embedder.embed_jpegs(datas)
    pil_path = embedder.embed_images([Image.open(io.BytesIO(d)) for d in datas])
    assert device_path.shape == (5, 32) and device_path.dtype == np.float32
    assert _cosines(device_path, pil_path).min() >= 0.99
    with pytest.raises(InvalidInputError, match="not JPEG"):
        embedder.embed_jpegs([b"\x89PNG..."])


def test_bf16_autocast_stays_close_to_fp32(tmp_path: Path) -> None:
    clip = load_clip(tiny_clip_settings(), tmp_path)
    settings = tiny_clip_settings().model_copy(update={"runtime": "torch", "precision": "bf16"})
    backend = build_backend(settings, clip, tmp_path)
    assert isinstance(backend, TorchBackend) and backend.precision == "bf16"
    pixels = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    tokens = clip.tokenizer.tokenize(["a red square", "dog"])
    reference = TorchBackend(clip.model)
    assert _cosines(backend.encode_pixels(pixels), reference.encode_pixels(pixels)).min() > 0.99
    assert _cosines(backend.encode_tokens(tokens), reference.encode_tokens(tokens)).min() > 0.99


def test_host_arrays_are_copied_without_pinning_on_cpu() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2]  # not contiguous
    tensor = to_device(array, torch.device("cpu"))
    assert not tensor.is_pinned() and tensor.tolist() == [[0.0, 2.0], [3.0, 5.0]]


def test_embed_jpegs_names_the_jpegs_it_cannot_decode(tmp_path: Path) -> None:
    settings = tiny_clip_settings().model_copy(update={"runtime": "torch", "decode": "device"})
    embedder = ClipEmbedder(settings, tmp_path)
    datas = _jpegs(10)
    datas[9] = datas[9][: len(datas[9]) // 2]  # in the second batch of 8
    with pytest.raises(UndecodableImagesError) as caught:
        embedder.embed_jpegs(datas)
    assert list(caught.value.reasons) == [9]
    assert caught.value.reasons[9].startswith("corrupt or truncated JPEG: ")
    assert ".cpp" not in caught.value.reasons[9]
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.reasons, str(again)) == (caught.value.reasons, str(caught.value))


def test_embed_jpegs_feeds_other_runtimes_host_arrays(tiny_embedder: Embedder) -> None:
    assert isinstance(tiny_embedder, ClipEmbedder)
    assert not isinstance(tiny_embedder._ready_backend(), TorchBackend)  # onnx: the CPU default
    datas = _jpegs(3)
    device_path = tiny_embedder.embed_jpegs(datas)
    pil_path = tiny_embedder.embed_images([Image.open(io.BytesIO(d)) for d in datas])
    assert _cosines(device_path, pil_path).min() >= 0.99


def test_preprocessing_the_device_cannot_reproduce_decodes_on_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert preprocesses_on_device({"interpolation": "bicubic", "resize_mode": "shortest"})
    assert not preprocesses_on_device({"interpolation": "bilinear", "resize_mode": "shortest"})
    assert not preprocesses_on_device({"interpolation": "bicubic", "resize_mode": "squash"})
    monkeypatch.setattr(clip_module, "preprocesses_on_device", lambda cfg: False)
    embedder = ClipEmbedder(tiny_clip_settings().model_copy(update={"runtime": "torch"}), tmp_path)
    datas = _jpegs(3)
    pil_path = embedder.embed_images([Image.open(io.BytesIO(d)) for d in datas])
    np.testing.assert_allclose(embedder.embed_jpegs(datas), pil_path, atol=1e-6)
    with pytest.raises(UndecodableImagesError) as caught:
        embedder.embed_jpegs([datas[0], datas[1][:200]])
    assert list(caught.value.reasons) == [1]

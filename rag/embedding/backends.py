"""Runtimes that run the two CLIP towers: one small seam, one class per runtime.

``torch`` runs the fp32 model; ``int8`` runs it after dynamic int8 quantization of its
``nn.Linear`` layers; ``onnx`` runs both towers exported to ONNX with ONNX Runtime
(see :mod:`rag.embedding.onnx_runtime`). ``auto`` (the default) is ``onnx`` on CPU when its export
agrees with torch at cosine >= :data:`MIN_AGREEMENT`, else ``torch``. :func:`build_backend` picks
one from the settings.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from rag.config import ClipSettings
from rag.embedding.gpu import autocast, precision_of, to_device
from rag.embedding.loading import LoadedClip
from rag.embedding.text_length import real_length_text_encoder
from rag.embedding.tokens import TokenBatch
from rag.errors import ConfigError

MIN_AGREEMENT = 0.9999
"""The ``auto`` runtime takes ONNX only when its vectors match torch's at least this closely."""
log = logging.getLogger(__name__)


class EncoderBackend(Protocol):
    """Runs the image and text towers on prepared inputs; returns unnormalised float32 features."""

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Features of preprocessed images ``(n, 3, H, W)``."""
        ...

    def encode_tokens(self, tokens: TokenBatch) -> np.ndarray:
        """Features of tokenized texts."""
        ...


class TorchBackend:
    """torch eager; texts run at the batch's real length where the text tower allows it.

    ``precision`` ``bf16``/``fp16`` runs the towers under autocast; inputs reach a CUDA device
    through pinned memory (see :mod:`rag.embedding.gpu`).
    """

    def __init__(self, model: Any, precision: str = "fp32") -> None:
        self._model = model
        self._device = next(model.parameters()).device
        self._real_length = real_length_text_encoder(model)
        self.precision = precision

    @property
    def device(self) -> torch.device:
        return self._device

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self.encode_pixel_tensor(to_device(pixels, self._device))

    def encode_pixel_tensor(self, pixels: torch.Tensor) -> np.ndarray:
        """Features of preprocessed images already on the model's device."""
        with torch.inference_mode(), autocast(self._device, self.precision):
            return _numpy(self._model.encode_image(pixels))

    def encode_tokens(self, tokens: TokenBatch) -> np.ndarray:
        ids = tokens.ids[:, : tokens.longest] if self._real_length else tokens.ids
        on_device = to_device(ids, self._device)
        with torch.inference_mode(), autocast(self._device, self.precision):
            if self._real_length is not None:
                return _numpy(self._real_length(on_device))
            return _numpy(self._model.encode_text(on_device))


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its ``nn.Linear`` layers dynamically quantized to int8 (CPU, in place)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices
        torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )
    for module in model.modules():
        if hasattr(module, "get_weight_dtype"):  # open_clip reads it from the (now int8) MLP
            module.get_weight_dtype = _float32  # type: ignore[assignment]
    return model


def _float32() -> torch.dtype:
    return torch.float32


def _torch(settings: ClipSettings, clip: LoadedClip, cache_dir: Path) -> EncoderBackend:
    return TorchBackend(clip.model, precision_of(settings))


def _int8(settings: ClipSettings, clip: LoadedClip, cache_dir: Path) -> EncoderBackend:
    if settings.device != "cpu":
        raise ConfigError(
            "MMRAG_CLIP__RUNTIME=int8 runs on the CPU only; set MMRAG_CLIP__DEVICE=cpu, "
            "or MMRAG_CLIP__RUNTIME=torch on a GPU"
        )
    return TorchBackend(quantize_int8(clip.model))


def _onnx(settings: ClipSettings, clip: LoadedClip, cache_dir: Path) -> EncoderBackend:
    from rag.embedding.onnx_runtime import OnnxBackend

    return OnnxBackend.for_model(clip, cache_dir, settings)


def _auto(settings: ClipSettings, clip: LoadedClip, cache_dir: Path) -> EncoderBackend:
    """ONNX on CPU when it exports and agrees with torch; torch on a GPU or otherwise."""
    if settings.device != "cpu":
        return TorchBackend(clip.model, precision_of(settings))
    from rag.embedding.onnx_runtime import OnnxBackend

    try:
        backend = OnnxBackend.for_model(clip, cache_dir, settings)
        cosine = backend.agreement(clip)
    except Exception as exc:  # any export or runtime failure: the model still runs in torch
        log.warning("runtime auto: ONNX unavailable for %s (%s); using torch", clip.model_id, exc)
        return TorchBackend(clip.model)
    if cosine < MIN_AGREEMENT:
        log.warning(
            "runtime auto: the ONNX export of %s agrees with torch at cosine %.6f only (< %s); "
            "using torch",
            clip.model_id,
            cosine,
            MIN_AGREEMENT,
        )
        return TorchBackend(clip.model)
    return backend


_BACKENDS: dict[str, Callable[[ClipSettings, LoadedClip, Path], EncoderBackend]] = {
    "auto": _auto,
    "torch": _torch,
    "int8": _int8,
    "onnx": _onnx,
}


def build_backend(settings: ClipSettings, clip: LoadedClip, cache_dir: Path) -> EncoderBackend:
    """The runtime named by ``settings.runtime`` for the loaded model."""
    try:
        build = _BACKENDS[settings.runtime]
    except KeyError:
        raise ConfigError(
            f"unknown MMRAG_CLIP__RUNTIME={settings.runtime!r}; use one of {', '.join(_BACKENDS)}"
        ) from None
    return build(settings, clip, cache_dir)


def probe_inputs(clip: LoadedClip) -> tuple[np.ndarray, TokenBatch]:
    """Fixed inputs on which runtimes are compared: two random images, texts of three lengths."""
    rng = np.random.default_rng(0)
    size = clip.image_size
    pixels = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    texts = ["a", "a photo of a small red dog on the grass", "the house " * 40]
    return pixels, clip.tokenizer.tokenize(texts)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest cosine between matching rows of ``a`` and ``b``."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(np.min(np.sum(a * b, axis=1)))


def _numpy(features: torch.Tensor) -> np.ndarray:
    return features.float().cpu().numpy().astype(np.float32, copy=False)

"""The ``torch`` and ``int8`` runtimes of the CLIP towers, and the probe on which other runtimes
are compared with torch fp32 (:func:`probe_inputs`, :func:`min_cosine`)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from rag.embedding.gpu import autocast, to_device
from rag.embedding.loading import LoadedClip
from rag.embedding.text_length import real_length_text_encoder
from rag.embedding.tokens import TokenBatch


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

"""Runtimes that run the two CLIP towers: one small seam, one class per runtime.

``torch`` runs the fp32 model; ``int8`` runs it after dynamic int8 quantization of its
``nn.Linear`` layers (both in :mod:`rag.embedding.torch_runtime`); ``onnx`` runs both towers
exported to ONNX with ONNX Runtime (see :mod:`rag.embedding.onnx_runtime`). ``auto`` (the
default) is ``onnx`` on CPU when its export agrees with torch at cosine >= :data:`MIN_AGREEMENT`,
else ``torch``. :func:`build_backend` picks one from the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import ClipSettings
from rag.embedding.gpu import precision_of
from rag.embedding.loading import LoadedClip
from rag.embedding.onnx_runtime import OnnxBackend
from rag.embedding.tokens import TokenBatch
from rag.embedding.torch_runtime import TorchBackend, quantize_int8
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
    return OnnxBackend.for_model(clip, cache_dir, settings)


def _auto(settings: ClipSettings, clip: LoadedClip, cache_dir: Path) -> EncoderBackend:
    """ONNX on CPU when it exports and agrees with torch; torch on a GPU or otherwise."""
    if settings.device != "cpu":
        return TorchBackend(clip.model, precision_of(settings))
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

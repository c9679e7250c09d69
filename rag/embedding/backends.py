"""Runtimes that run the two CLIP towers: one small seam, one class per runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from rag.config import ClipSettings
from rag.embedding.loading import LoadedClip
from rag.embedding.text_length import real_length_text_encoder
from rag.embedding.tokens import TokenBatch


class EncoderBackend(Protocol):
    """Runs the image and text towers on prepared inputs; returns unnormalised float32 features."""

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Features of preprocessed images ``(n, 3, H, W)``."""
        ...

    def encode_tokens(self, tokens: TokenBatch) -> np.ndarray:
        """Features of tokenized texts."""
        ...


class TorchBackend:
    """fp32 torch; texts run at the batch's real length where the text tower allows it."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._real_length = real_length_text_encoder(model)

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return _numpy(self._model.encode_image(torch.from_numpy(pixels)))

    def encode_tokens(self, tokens: TokenBatch) -> np.ndarray:
        ids = torch.from_numpy(tokens.ids)
        with torch.inference_mode():
            if self._real_length is not None:
                return _numpy(self._real_length(ids[:, : tokens.longest]))
            return _numpy(self._model.encode_text(ids))


def _numpy(features: torch.Tensor) -> np.ndarray:
    return features.float().numpy().astype(np.float32, copy=False)


def build_backend(settings: ClipSettings, clip: LoadedClip, cache_dir: Path) -> EncoderBackend:
    """The runtime named by ``settings.runtime`` for the loaded model."""
    return TorchBackend(clip.model)

"""The two encoders of an open_clip model as training sees them: batches in, unit vectors out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from rag.embedding.text_length import real_length_text_encoder


@dataclass(frozen=True)
class TrainBatch:
    """A micro-batch of pairs: model-ready ``pixels`` ``(n, 3, H, W)``, token ``ids`` ``(n, L)``."""

    pixels: torch.Tensor
    ids: torch.Tensor

    def __len__(self) -> int:
        return len(self.pixels)


class Towers:
    """Encodes images and token ids with ``model``; texts run at their real length where valid."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._text = real_length_text_encoder(model)

    def images(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(pixels), dim=-1)

    def texts(self, ids: torch.Tensor) -> torch.Tensor:
        if self._text is None:
            return F.normalize(self.model.encode_text(ids), dim=-1)
        longest = max(int((ids != 0).sum(dim=1).max()), 1)
        return F.normalize(self._text(ids[:, :longest]), dim=-1)

    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp().reshape(())

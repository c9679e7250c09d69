"""The symmetric InfoNCE loss of CLIP."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy; row ``i`` of each input is a pair.

    Features are unit vectors ``(n, dim)``; ``logit_scale`` is the multiplier (already exp'd).
    """
    logits = logit_scale * image_features @ text_features.T
    labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

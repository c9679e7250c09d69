"""One optimisation step of contrastive training, with exact gradient accumulation.

With several micro-batches the loss still sees every pair of the whole step as negatives: the
features of all micro-batches are computed without gradients, the loss over the full batch gives
the gradient of each feature, and each micro-batch is then re-encoded with gradients and
back-propagated against its slice (the "gradient cache" method; costs one extra forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rag.training.loss import contrastive_loss
from rag.training.towers import Towers, TrainBatch


def accumulate_gradients(towers: Towers, micro_batches: Sequence[TrainBatch]) -> float:
    """Back-propagate the loss of the full batch formed by ``micro_batches``; return the loss."""
    if len(micro_batches) == 1:
        batch = micro_batches[0]
        loss = contrastive_loss(
            towers.images(batch.pixels), towers.texts(batch.ids), towers.logit_scale()
        )
        loss.backward()
        return float(loss.detach())
    with torch.no_grad():
        cached = [(towers.images(b.pixels), towers.texts(b.ids)) for b in micro_batches]
    images = torch.cat([pair[0] for pair in cached]).requires_grad_(True)
    texts = torch.cat([pair[1] for pair in cached]).requires_grad_(True)
    loss = contrastive_loss(images, texts, towers.logit_scale())
    loss.backward()
    assert images.grad is not None and texts.grad is not None
    start = 0
    for batch in micro_batches:
        end = start + len(batch)
        surrogate = (towers.images(batch.pixels) * images.grad[start:end]).sum()
        surrogate = surrogate + (towers.texts(batch.ids) * texts.grad[start:end]).sum()
        surrogate.backward()
        start = end
    return float(loss.detach())

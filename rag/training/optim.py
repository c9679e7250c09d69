"""AdamW with weight decay on matrices only (not on biases, norms, embeddings' scale)."""

from __future__ import annotations

import torch

_NO_DECAY_HINTS = ("bias", "ln", "bn", "norm", "logit_scale", "positional_embedding", "class_emb")


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over trainable parameters; 1-D and norm/bias/scale parameters get no decay."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = param.ndim < 2 or any(hint in name for hint in _NO_DECAY_HINTS)
        (no_decay if exempt else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)

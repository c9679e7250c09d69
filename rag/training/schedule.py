"""Learning-rate schedule: linear warm-up, then cosine decay."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, warmup: int, floor: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total`` steps.

    Rises linearly to 1 over ``warmup`` steps, then follows a cosine down to ``floor``.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

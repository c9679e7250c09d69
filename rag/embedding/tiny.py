"""The tiny random-weight CLIP that tests and examples build in well under a second."""

from __future__ import annotations

from rag.config import ClipSettings

TINY_MODEL = "mmrag-tiny"
"""open_clip architecture registered from ``configs/mmrag-tiny.json`` (embed_dim 32, one layer)."""


def tiny_clip_settings(seed: int = 0) -> ClipSettings:
    """Settings of the tiny CLIP with random weights seeded by ``seed`` (same everywhere)."""
    return ClipSettings(model=TINY_MODEL, pretrained="", threads=1, batch_size=8, seed=seed)

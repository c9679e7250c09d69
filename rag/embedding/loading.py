"""Build an open_clip model, its preprocessing and tokenizer from :class:`ClipSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch

from rag.config import ClipSettings
from rag.embedding.images import Preprocess
from rag.embedding.tokens import TextTokenizer


@dataclass(frozen=True)
class LoadedClip:
    """A CLIP model in eval mode with the preprocessing and tokenizer made for it."""

    model: Any
    preprocess: Preprocess
    tokenizer: TextTokenizer
    image_size: int
    dim: int
    model_id: str


def model_id_for(settings: ClipSettings) -> str:
    """A stable name for the settings' model and weights (``ViT-B-32/openai``)."""
    weights = settings.pretrained or f"random-seed{settings.seed}"
    return f"{settings.model}/{weights}"


def load_clip(settings: ClipSettings, cache_dir: Path) -> LoadedClip:
    """Create the model of ``settings``; seeded random weights when ``pretrained`` is empty."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model, _, preprocess = open_clip.create_model_and_transforms(
            settings.model, pretrained=settings.pretrained or None, cache_dir=str(cache_dir)
        )
    return _finish(model, preprocess, settings.model, model_id_for(settings))


def _finish(model: Any, preprocess: Any, name: str, model_id: str) -> LoadedClip:
    model.eval()
    tokenizer = open_clip.get_tokenizer(name)
    context = int(getattr(model, "context_length", None) or tokenizer.context_length)
    size = model.visual.image_size
    image_size = int(size[0] if isinstance(size, tuple | list) else size)
    tokens = TextTokenizer(tokenizer, context)
    return LoadedClip(model, preprocess, tokens, image_size, _embed_dim(model), model_id)


def _embed_dim(model: Any) -> int:
    dim = getattr(model.visual, "output_dim", None)
    if dim is None:
        projection = model.text_projection
        linear = isinstance(projection, torch.nn.Linear)
        dim = projection.out_features if linear else projection.shape[1]
    return int(dim)

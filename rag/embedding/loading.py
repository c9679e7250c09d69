"""Build an open_clip model, its preprocessing and tokenizer from :class:`ClipSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch

from rag.config import ClipSettings
from rag.embedding.images import Preprocess
from rag.embedding.resolve import ModelSource, describe, resolve
from rag.embedding.tokens import TextTokenizer
from rag.errors import ModelUnavailableError


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
    return describe(settings)


def load_clip(settings: ClipSettings, cache_dir: Path) -> LoadedClip:
    """Resolve, build and load the model of ``settings`` (seeded random weights when empty)."""
    source = resolve(settings, cache_dir)
    model, preprocess = _build(source, settings.seed, cache_dir)
    if source.checkpoint is not None:
        _load_weights(model, source)
    model.to(settings.device).eval()
    tokenizer = open_clip.get_tokenizer(source.name, cache_dir=str(cache_dir))
    context = int(getattr(model, "context_length", None) or tokenizer.context_length)
    tokens = TextTokenizer(tokenizer, context)
    size, dim = _image_size(model), _embed_dim(model)
    return LoadedClip(model, preprocess, tokens, size, dim, source.model_id)


def _build(source: ModelSource, seed: int, cache_dir: Path) -> tuple[Any, Preprocess]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, _, preprocess = open_clip.create_model_and_transforms(
            source.name,
            load_weights=False,
            pretrained_text=False,
            force_quick_gelu=source.quick_gelu,
            cache_dir=str(cache_dir),
            **{f"image_{key}": value for key, value in source.preprocess.items()},
        )
    return model, preprocess


def _load_weights(model: Any, source: ModelSource) -> None:
    try:
        open_clip.load_checkpoint(model, str(source.checkpoint), strict=True)
    except Exception as exc:
        raise ModelUnavailableError(
            f"cannot load CLIP weights {source.checkpoint} into {source.name}: {exc}. "
            "Set MMRAG_CLIP__MODEL to the architecture they were trained with, or give a folder "
            "holding open_clip_config.json next to the weights"
        ) from None


def _image_size(model: Any) -> int:
    size = model.visual.image_size
    return int(size[0] if isinstance(size, tuple | list) else size)


def _embed_dim(model: Any) -> int:
    dim = getattr(model.visual, "output_dim", None)
    if dim is None:
        projection = model.text_projection
        linear = isinstance(projection, torch.nn.Linear)
        dim = projection.out_features if linear else projection.shape[1]
    return int(dim)

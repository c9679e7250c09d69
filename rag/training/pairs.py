"""Image-text pairs for fine-tuning: from an ingested collection, split, batched, encoded."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rag import payload as keys
from rag.errors import InvalidInputError
from rag.store.base import VectorStore
from rag.training.towers import Towers, TrainBatch

Preprocess = Callable[[Image.Image], torch.Tensor]
Tokenize = Callable[[list[str]], torch.Tensor]


@dataclass(frozen=True)
class Pair:
    """One picture and the text that describes it."""

    image_path: Path
    text: str


def pairs_from_store(store: VectorStore, page: int = 256) -> list[Pair]:
    """Every ingested item with both a picture on disk and a text (first chunk only)."""
    pairs: list[Pair] = []
    offset: str | None = None
    while True:
        points, offset = store.scroll(limit=page, offset=offset)
        for point in points:
            pair = _pair_of(point.payload)
            if pair is not None:
                pairs.append(pair)
        if offset is None:
            return pairs


def _pair_of(payload: dict) -> Pair | None:
    path, text = payload.get(keys.IMAGE_PATH), payload.get(keys.TEXT)
    if not path or not text or int(payload.get(keys.CHUNK_INDEX) or 0) > 0:
        return None
    return Pair(Path(path), str(text))


def split_pairs(
    pairs: Sequence[Pair], holdout: float, seed: int = 0
) -> tuple[list[Pair], list[Pair]]:
    """(train, held-out): a seeded shuffle, ``holdout`` as a share (< 1) or a count (>= 1)."""
    if len(pairs) < 4:
        raise InvalidInputError(
            f"fine-tuning needs at least 4 image-text pairs, got {len(pairs)}; "
            "ingest items that have both a picture and a text"
        )
    order = list(pairs)
    random.Random(seed).shuffle(order)
    count = int(holdout) if holdout >= 1 else round(len(order) * holdout)
    count = min(max(count, 2), len(order) - 2)
    return order[count:], order[:count]


def load_images(pairs: Sequence[Pair], preprocess: Preprocess) -> torch.Tensor:
    """The pictures of ``pairs`` through the model's preprocessing, ``(n, 3, H, W)``."""
    return torch.stack([preprocess(_open_rgb(pair.image_path)) for pair in pairs])


def _open_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        message = f"cannot read image {path}: {exc}; re-ingest or remove it"
        raise InvalidInputError(message) from None


def pair_batches(
    pairs: Sequence[Pair],
    preprocess: Preprocess,
    tokenize: Tokenize,
    batch_size: int,
    seed: int = 0,
) -> Iterator[TrainBatch]:
    """Shuffled epochs over ``pairs`` forever; batches of ``batch_size`` (the last one smaller)."""
    rng = random.Random(seed)
    order = list(pairs)
    while True:
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            if len(chunk) < 2:
                continue
            yield TrainBatch(load_images(chunk, preprocess), tokenize([p.text for p in chunk]))


def encode_pairs(
    model: torch.nn.Module,
    pairs: Sequence[Pair],
    preprocess: Preprocess,
    tokenize: Tokenize,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit image and text vectors of ``pairs`` under ``model`` (eval mode, no gradients)."""
    towers = Towers(model)
    model.eval()
    device = next(model.parameters()).device
    images, texts = [], []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            images.append(towers.images(load_images(chunk, preprocess).to(device)).cpu().numpy())
            ids = tokenize([pair.text for pair in chunk]).to(device)
            texts.append(towers.texts(ids).cpu().numpy())
    return np.concatenate(images), np.concatenate(texts)

"""Image input checks and the model's preprocessing, as float32 numpy batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from rag.errors import InvalidInputError

Preprocess = Callable[[Image.Image], torch.Tensor]


def to_rgb(image: object, index: int = 0) -> Image.Image:
    """``image`` as an RGB PIL image; anything that is not a PIL image raises InvalidInputError."""
    if not isinstance(image, Image.Image):
        raise InvalidInputError(
            f"image #{index} is a {type(image).__name__}, not a PIL image; "
            "open files with PIL.Image.open(...) first"
        )
    if image.width < 1 or image.height < 1:
        raise InvalidInputError(f"image #{index} is empty ({image.width}x{image.height})")
    # Converted before resizing (open_clip converts after): palette and 1-bit images then get
    # bicubic resampling instead of nearest-neighbour; alpha is dropped as open_clip does.
    return image if image.mode == "RGB" else image.convert("RGB")


def preprocess_batch(
    preprocess: Preprocess, images: Sequence[Image.Image], size: int
) -> np.ndarray:
    """Run ``preprocess`` on each image: ``(n, 3, size, size)`` float32, also for ``n == 0``."""
    if not images:
        return np.zeros((0, 3, size, size), dtype=np.float32)
    tensors = [preprocess(to_rgb(image, i)) for i, image in enumerate(images)]
    return torch.stack(tensors).numpy().astype(np.float32, copy=False)

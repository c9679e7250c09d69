"""Feeding a GPU: JPEG decode and preprocessing on the device, pinned copies, reduced precision.

Everything here takes the device as an argument, so the same code runs (and is tested) on CPU;
:class:`~rag.config.ClipSettings` turns it on by default only on CUDA:

* ``decode="device"``: JPEG bytes are decoded in batches by ``torchvision.io.decode_jpeg`` on the
  device (nvJPEG on CUDA), resized (bicubic, antialiased), centre-cropped and normalised there, so
  the host never touches pixels. Other formats go through PIL as usual.
* ``precision``: ``bf16``/``fp16`` run the towers under ``torch.autocast``.
* host arrays reach a CUDA device through pinned memory with ``non_blocking`` copies.

Ingest hands JPEG files' bytes to :meth:`~rag.embedding.clip.ClipEmbedder.embed_jpegs` when
:func:`decodes_on_device` is true; a JPEG the device cannot decode fails alone
(:class:`~rag.errors.UndecodableImagesError` names it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
import torch

from rag.config import ClipSettings
from rag.errors import UndecodableImagesError

JPEG_MAGIC = b"\xff\xd8\xff"
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def on_gpu(device: str) -> bool:
    return device.split(":")[0] == "cuda"


def precision_of(settings: ClipSettings) -> str:
    """``fp32``, ``bf16`` or ``fp16``: ``auto`` is bf16 on CUDA, fp32 elsewhere."""
    if settings.precision == "auto":
        return "bf16" if on_gpu(settings.device) else "fp32"
    return settings.precision


def decodes_on_device(settings: ClipSettings) -> bool:
    """Whether JPEGs are decoded on the model's device (``auto``: on CUDA only)."""
    if settings.decode == "auto":
        return on_gpu(settings.device)
    return settings.decode == "device"


def batch_size_of(settings: ClipSettings) -> int:
    """Images or texts per forward pass: ``gpu_batch_size`` on CUDA, ``batch_size`` elsewhere."""
    return settings.gpu_batch_size if on_gpu(settings.device) else settings.batch_size


@contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """``torch.autocast`` to ``precision`` on ``device`` (nothing for fp32)."""
    context = (
        torch.autocast(device.type, dtype=_DTYPES[precision])
        if precision in _DTYPES
        else nullcontext()
    )
    with context:
        yield


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` on ``device``; through pinned memory, without blocking, when that is CUDA."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def is_jpeg(data: bytes) -> bool:
    return data[:3] == JPEG_MAGIC


def decode_jpegs(datas: Sequence[bytes], device: torch.device) -> list[torch.Tensor]:
    """RGB ``uint8`` tensors ``(3, H, W)`` on ``device``, decoded as one batch."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision points to torchcodec
        from torchvision.io import ImageReadMode, decode_jpeg

        if not datas:
            return []
        encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in datas]
        decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
    return list(decoded) if isinstance(decoded, list | tuple) else [decoded]


def decode_jpeg_batch(datas: Sequence[bytes], device: torch.device) -> list[torch.Tensor]:
    """:func:`decode_jpegs`, and when the batch fails, each JPEG alone to name the bad ones.

    Raises :class:`UndecodableImagesError` (indices into ``datas``) when any fails alone.
    """
    try:
        return decode_jpegs(datas, device)
    except RuntimeError:
        pass
    images: list[torch.Tensor] = []
    reasons: dict[int, str] = {}
    for index, data in enumerate(datas):
        try:
            images += decode_jpegs([data], device)
        except RuntimeError as exc:
            reasons[index] = f"corrupt or truncated JPEG: {_decoder_message(exc)}"
    if reasons:
        raise UndecodableImagesError(reasons)
    return images


def _decoder_message(exc: RuntimeError) -> str:
    """torchvision's message without its source location (``decode_jpeg, file.cpp:171, why``)."""
    return str(exc).split(", ", 2)[-1].strip() or type(exc).__name__


def preprocesses_on_device(cfg: dict) -> bool:
    """Whether :func:`preprocess_tensors` reproduces the model's preprocessing ``cfg``
    (open_clip's ``preprocess_cfg``): RGB, bicubic, shortest side then centre crop."""
    return (
        cfg.get("mode", "RGB") == "RGB"
        and cfg.get("interpolation", "bicubic") == "bicubic"
        and cfg.get("resize_mode", "shortest") == "shortest"
    )


def preprocess_tensors(
    images: Sequence[torch.Tensor],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """CLIP's preprocessing on the images' device: shortest side to ``size`` (bicubic,
    antialiased), centre crop, scale to [0, 1], normalise. ``(n, 3, size, size)`` float32."""
    import torch.nn.functional as F

    if not images:
        raise ValueError("no images to preprocess")
    device = images[0].device
    mean_t = torch.tensor(mean, device=device).view(3, 1, 1)
    std_t = torch.tensor(std, device=device).view(3, 1, 1)
    out = torch.empty((len(images), 3, size, size), device=device)
    for row, image in enumerate(images):
        height, width = image.shape[-2:]
        scale = size / min(height, width)
        target = (max(size, round(height * scale)), max(size, round(width * scale)))
        resized = F.interpolate(
            image.unsqueeze(0).float(), size=target, mode="bicubic", antialias=True
        )[0]
        top, left = (target[0] - size) // 2, (target[1] - size) // 2
        crop = resized[:, top : top + size, left : left + size].clamp(0, 255) / 255.0
        out[row] = (crop - mean_t) / std_t
    return out

"""What both ONNX runtimes (the CLIP towers, the passage model) share: a fingerprint of the
weights that keys their export folders, publishing an export atomically, and opening an ONNX
Runtime session."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every tensor in the model's state dict (names, shapes and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(flat.view(torch.uint8).numpy().data if flat.numel() else b"")
    return digest.hexdigest()


def publish(folder: Path, write: Callable[[Path], Any], done_file: str) -> None:
    """Run ``write(staging)`` in a fresh folder next to ``folder``, then rename it into place.

    Other processes may race: when the rename fails because one of them published first
    (``folder/done_file`` exists), that export stands."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        write(staging)
        os.replace(staging, folder)
    except OSError:
        if not (folder / done_file).is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def open_session(path: Path, device: str, threads: int = 0) -> Any:
    """An ONNX Runtime session of the model at ``path``: every graph optimisation, one inter-op
    thread, ``threads`` intra-op threads (0: ORT's default), CUDA first when ``device`` is a
    CUDA device and ORT has the provider."""
    import onnxruntime as ort  # loaded only by the processes that run an ONNX runtime

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), options, providers=providers)

"""Where the reranker runs, and how many candidates it reranks there by default."""

from __future__ import annotations

from rag.config import RerankSettings


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when a CUDA GPU is visible, else ``cpu``; others pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def top_n_for(settings: RerankSettings, device: str) -> int:
    """``settings.top_n`` on CPU, ``settings.top_n_gpu`` on an accelerator (``cuda``, ``mps``)."""
    return settings.top_n if device.split(":")[0] == "cpu" else settings.top_n_gpu

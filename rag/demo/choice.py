"""Which CLIP ``mmrag demo`` uses: the configured pretrained one when its weights load, else the
offline demo model (trained on first use, cached under the model cache folder)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.config import ClipSettings, Settings
from rag.demo.model import Budget, demo_clip_settings, demo_model_folder, ensure_demo_model
from rag.embedding import load_embedder
from rag.errors import ModelUnavailableError
from rag.training.checkpoint import is_model_folder


@dataclass(frozen=True)
class DemoModelChoice:
    """The CLIP settings to use; ``offline`` when it is the demo model, and ``reason`` why."""

    clip: ClipSettings
    offline: bool
    reason: str = ""


def pretrained_unavailable(settings: Settings) -> str:
    """Why the configured CLIP cannot load (the error's message), or ``""`` when it loads."""
    try:
        load_embedder(settings.clip, settings.model_cache_dir).warm_up()
    except ModelUnavailableError as exc:
        return str(exc)
    return ""


OfflineNotice = Callable[[str, Path, bool], None]
"""Told ``(reason, folder, will_train)`` before the offline model is trained or loaded."""


def choose_demo_model(
    settings: Settings,
    budget: Budget = "full",
    progress: bool = True,
    notify: OfflineNotice | None = None,
) -> DemoModelChoice:
    """Follow ``settings.demo.model``: ``auto`` falls back to the offline model, ``pretrained``
    raises :class:`ModelUnavailableError`, ``offline`` never tries the pretrained weights."""
    reason = "MMRAG_DEMO__MODEL=offline"
    if settings.demo.model != "offline":
        reason = pretrained_unavailable(settings)
        if not reason:
            return DemoModelChoice(settings.clip, offline=False)
        if settings.demo.model == "pretrained":
            raise ModelUnavailableError(reason)
    cache, seed = settings.model_cache_dir, settings.demo.seed
    if notify is not None:
        folder = demo_model_folder(cache, budget, seed)
        notify(reason, folder, not is_model_folder(folder))
    folder = ensure_demo_model(cache, budget, seed, progress, settings.clip.device)
    clip = demo_clip_settings(folder, settings.clip.threads, settings.clip.batch_size)
    return DemoModelChoice(clip.model_copy(update={"device": settings.clip.device}), True, reason)

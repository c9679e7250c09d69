"""Checkpoints as open_clip hf-hub style folders, which the embedder loads as a local model.

A folder holds ``open_clip_config.json`` (``model_cfg`` + ``preprocess_cfg``),
``open_clip_model.safetensors`` and ``mmrag_training.json`` (how it was trained, its recall).
Point the embedder at it with ``MMRAG_CLIP__PRETRAINED=<folder>``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import open_clip
from open_clip.transformer import QuickGELU

from rag.config import ClipSettings
from rag.embedding.checkpoints import save_clip_folder
from rag.embedding.resolve import CONFIG_NAME as CONFIG_FILE
from rag.embedding.resolve import WEIGHT_NAMES, resolve
from rag.errors import ConfigError

WEIGHTS_FILE = WEIGHT_NAMES[0]
TRAINING_FILE = "mmrag_training.json"
LOCAL_DIR = "local-dir:"


def model_config_of(settings: ClipSettings, cache_dir: Path) -> dict[str, Any]:
    """The open_clip ``model_cfg`` of the settings' model (registered name, hub repo or folder)."""
    name = resolve(settings, cache_dir).name
    if name.startswith(LOCAL_DIR):
        path = Path(name[len(LOCAL_DIR) :]) / CONFIG_FILE
        config = json.loads(path.read_text(encoding="utf-8"))
        return dict(config.get("model_cfg", config))
    config = open_clip.get_model_config(name)
    if config is None:
        raise ConfigError(
            f"unknown open_clip model {name!r}; set MMRAG_CLIP__MODEL to a name from "
            "open_clip.list_models() or MMRAG_CLIP__PRETRAINED to a checkpoint folder"
        )
    return dict(config)


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a complete checkpoint written by :func:`save_model_folder`."""
    return (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def save_model_folder(
    model: Any, model_cfg: dict[str, Any], folder: Path, training: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` to ``folder`` atomically (a half-written folder is never visible)."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    cfg = dict(model_cfg)
    if any(isinstance(module, QuickGELU) for module in model.modules()):
        cfg["quick_gelu"] = True
    save_clip_folder(model, cfg, staging, _preprocess_cfg(model))
    if training is not None:
        (staging / TRAINING_FILE).write_text(json.dumps(training, indent=2), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)
    return folder


def read_training_info(folder: Path) -> dict[str, Any]:
    """The ``mmrag_training.json`` of a checkpoint folder (empty when absent)."""
    path = Path(folder) / TRAINING_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _preprocess_cfg(model: Any) -> dict[str, Any]:
    visual = model.visual
    cfg = dict(getattr(visual, "preprocess_cfg", {}) or {})
    mean = getattr(visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
    std = getattr(visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
    cfg.setdefault("mean", list(mean))
    cfg.setdefault("std", list(std))
    cfg.pop("size", None)
    return {key: list(v) if isinstance(v, tuple) else v for key, v in cfg.items()}

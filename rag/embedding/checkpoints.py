"""Save a CLIP model as a folder that :func:`rag.embedding.load_embedder` (and open_clip) load.

The layout is open_clip's Hugging Face hub layout::

    my-clip/
      open_clip_config.json        {"model_cfg": {...architecture...}, "preprocess_cfg": {...}}
      open_clip_model.safetensors  the model's state_dict

Point ``MMRAG_CLIP__PRETRAINED=/path/to/my-clip`` at it (``MMRAG_CLIP__MODEL`` is then ignored).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from rag.embedding.resolve import CONFIG_NAME, WEIGHT_NAMES


def save_clip_folder(
    model: torch.nn.Module,
    model_cfg: dict[str, Any],
    folder: Path,
    preprocess_cfg: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (its architecture ``model_cfg``, e.g. ``open_clip.get_model_config(name)``).

    ``preprocess_cfg`` defaults to the one open_clip attached to the model when it was created.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    preprocess = preprocess_cfg or dict(getattr(model.visual, "preprocess_cfg", {}))
    config = {"model_cfg": model_cfg, "preprocess_cfg": _jsonable(preprocess)}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2), encoding="utf-8")
    state = {name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}
    save_file(state, str(folder / WEIGHT_NAMES[0]))
    return folder


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    return {key: list(v) if isinstance(v, tuple) else v for key, v in config.items()}

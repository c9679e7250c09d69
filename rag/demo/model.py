"""The offline demo model: a small CLIP trained from scratch on synthetic scenes, cached on disk.

``mmrag-demo`` (registered with open_clip like the tiny test model) has a small ResNet image tower
(64x64 pixels) and a 2-layer text transformer over open_clip's standard tokenizer (32 tokens).
It learns colours, shapes, sizes, counts and positions of :mod:`rag.demo.scenes` in minutes on
two CPU cores, so ``mmrag demo`` and the semantic tests work without any download.

Example::

    folder = ensure_demo_model(Path("data/models"))       # trains once, then loads from disk
    settings = demo_clip_settings(folder)                 # ClipSettings for load_embedder
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import open_clip
import torch

from rag.config import ClipSettings
from rag.demo.scenes import Scene
from rag.demo.stream import SceneRenderer, TextMix, Tokenize, held_out_scenes, scene_batches
from rag.embedding.loading import LoadedClip, load_clip
from rag.training.checkpoint import is_model_folder, model_config_of, save_model_folder
from rag.training.loop import TrainConfig, train
from rag.training.recall import recall_at_k
from rag.training.towers import Towers

log = logging.getLogger(__name__)

DEMO_MODEL = "mmrag-demo"
"""open_clip architecture registered from ``configs/mmrag-demo.json``."""
DRAW_SIZE = 128
"""Side of the pictures in the sample collection (the model sees them resized to 64)."""
FORMAT_VERSION = 1
"""Bumped when the scenes or the recipe change, so cached models are retrained."""

open_clip.add_model_config(Path(__file__).parent / "configs" / f"{DEMO_MODEL}.json")

Budget = Literal["full", "test"]
DEMO_SETTINGS = ClipSettings(model=DEMO_MODEL, pretrained="")
"""The untrained demo architecture (random weights)."""


@dataclass(frozen=True)
class DemoRecipe:
    """How the demo model is trained: ``steps`` batches of ``batch_size`` fresh scenes."""

    steps: int
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 50
    description_share: float = 0.3
    """Share of training texts that are the longer description instead of the caption."""
    phrase_share: float = 0.15
    """Share of training texts that are a short phrase (``a red circle``)."""
    question_share: float = 0.1
    """Share of training texts that are a question (``what is above the blue square?``)."""
    held_out: int = 500
    max_seconds: float | None = None
    """Training time budget: on a slow or busy machine fewer steps are trained (see
    :class:`~rag.training.loop.TrainConfig`)."""


RECIPES: dict[str, DemoRecipe] = {
    "full": DemoRecipe(steps=500, max_seconds=170.0),
    "test": DemoRecipe(steps=120, batch_size=96, held_out=200),
}
"""``full`` is what ``mmrag demo`` trains; ``test`` is a smaller budget for the test suite."""


def demo_clip_settings(folder: Path, threads: int = 0, batch_size: int = 64) -> ClipSettings:
    """Settings that load the demo model from its checkpoint ``folder``."""
    return ClipSettings(
        model=DEMO_MODEL, pretrained=str(folder), threads=threads, batch_size=batch_size
    )


def demo_model_folder(cache_dir: Path, budget: Budget = "full", seed: int = 0) -> Path:
    """Where the demo model of this budget and seed is cached under ``cache_dir`` (the name holds
    a digest of the recipe, so a changed recipe trains a new model)."""
    recipe = json.dumps(asdict(RECIPES[budget]), sort_keys=True).encode()
    digest = hashlib.sha256(recipe).hexdigest()[:8]
    return Path(cache_dir) / f"{DEMO_MODEL}-v{FORMAT_VERSION}-{budget}-seed{seed}-{digest}"


def ensure_demo_model(
    cache_dir: Path,
    budget: Budget = "full",
    seed: int = 0,
    progress: bool = False,
    device: str = "cpu",
) -> Path:
    """The folder of the cached demo model; trains and saves it first when it is missing."""
    folder = demo_model_folder(cache_dir, budget, seed)
    if not is_model_folder(folder):
        log.info("training the offline demo model (%s budget) into %s", budget, folder)
        train_demo_model(folder, budget, seed, progress, device)
    return folder


def train_demo_model(
    folder: Path,
    budget: Budget = "full",
    seed: int = 0,
    progress: bool = True,
    device: str = "cpu",
) -> dict[str, object]:
    """Train the demo model from scratch, measure held-out recall, save it to ``folder``.

    Returns what is also written to ``mmrag_training.json``: the recipe, seconds, losses and
    text->image / image->text Recall@1/5 on ``recipe.held_out`` unseen scenes.
    """
    recipe = RECIPES[budget]
    clip = load_clip(DEMO_SETTINGS.model_copy(update={"seed": seed}), Path("."))
    renderer = renderer_for(clip)
    tokenize = _tokenizer(clip)
    config = TrainConfig(
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        frozen=("token_embedding",),
        max_seconds=recipe.max_seconds,
        seed=seed,
        device=device,
        progress=progress,
    )
    mix = TextMix(recipe.description_share, recipe.phrase_share, recipe.question_share)
    batches = scene_batches(renderer, tokenize, recipe.batch_size, seed, mix)
    started = time.perf_counter()
    result = train(clip.model, batches, config)
    held = held_out_scenes(recipe.held_out, seed)
    info: dict[str, object] = {
        "model": DEMO_MODEL,
        "budget": budget,
        "seed": seed,
        "recipe": asdict(recipe),
        "steps_trained": result.steps,
        "train_seconds": round(result.seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "first_loss": result.losses[0],
        "last_loss": result.losses[-1],
        "held_out_recall": scene_recall(clip.model, renderer, tokenize, held),
    }
    clip.model.to("cpu")
    save_model_folder(clip.model, model_config_of(DEMO_SETTINGS, Path(".")), folder, info)
    info["total_seconds"] = round(time.perf_counter() - started, 1)
    return info


def renderer_for(clip: LoadedClip) -> SceneRenderer:
    """A scene renderer matching the model's image size and normalisation."""
    cfg = clip.model.visual.preprocess_cfg
    return SceneRenderer(clip.image_size, cfg["mean"], cfg["std"], DRAW_SIZE)


def scene_recall(
    model: torch.nn.Module, renderer: SceneRenderer, tokenize: Tokenize, scenes: list[Scene]
) -> dict[str, float]:
    """Recall@1/5 between scene pictures and their captions under ``model`` (eval mode)."""
    towers = Towers(model)
    model.eval()
    device = next(model.parameters()).device
    images, texts = [], []
    with torch.no_grad():
        for start in range(0, len(scenes), 100):
            chunk = scenes[start : start + 100]
            captions = tokenize([scene.caption() for scene in chunk]).to(device)
            images.append(towers.images(renderer.pixels(chunk).to(device)).cpu().numpy())
            texts.append(towers.texts(captions).cpu().numpy())
    return recall_at_k(np.concatenate(images), np.concatenate(texts), (1, 5))


def _tokenizer(clip: LoadedClip) -> Tokenize:
    tokenizer = open_clip.get_tokenizer(DEMO_MODEL)
    context = clip.tokenizer.context_length

    def tokenize(texts: list[str]) -> torch.Tensor:
        return tokenizer(texts, context_length=context)

    return tokenize

"""Contrastive fine-tuning of the configured CLIP on image-text pairs, with recall before and after.

Example::

    pairs = pairs_from_store(services.store)
    report = finetune(settings.clip, settings.model_cache_dir, pairs, Path("data/models/my-clip"),
                      TrainConfig(steps=200, batch_size=32, lr=1e-5))
    report.before["t2i@1"], report.after["t2i@1"]
    # then: MMRAG_CLIP__PRETRAINED=data/models/my-clip
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from rag.config import ClipSettings
from rag.embedding.loading import LoadedClip, load_clip
from rag.training.checkpoint import model_config_of, save_model_folder
from rag.training.loop import TrainConfig, train
from rag.training.pairs import Pair, Tokenize, encode_pairs, pair_batches, split_pairs
from rag.training.recall import recall_at_k


@dataclass
class FinetuneReport:
    """Held-out Recall@k before and after, the losses, and where the checkpoint went."""

    output: Path
    train_pairs: int
    held_out_pairs: int
    before: dict[str, float]
    after: dict[str, float]
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "output": str(self.output)}


def finetune(
    clip_settings: ClipSettings,
    cache_dir: Path,
    pairs: Sequence[Pair],
    output: Path,
    config: TrainConfig,
    holdout: float = 0.1,
    ks: Sequence[int] = (1, 5, 10),
) -> FinetuneReport:
    """Fine-tune the model of ``clip_settings`` on ``pairs`` and save it to ``output``.

    ``holdout`` pairs (a share, or a count when >= 1) never train; Recall@k is measured on them
    before and after. The output folder loads with ``MMRAG_CLIP__PRETRAINED=<output>``.
    """
    train_set, held = split_pairs(pairs, holdout, config.seed)
    clip = load_clip(clip_settings, cache_dir)
    tokenize = _tokenizer(clip)
    before = _recall(clip, held, tokenize, ks)
    batches = pair_batches(train_set, clip.preprocess, tokenize, config.batch_size, config.seed)
    result = train(clip.model, batches, config)
    after = _recall(clip, held, tokenize, ks)
    report = FinetuneReport(
        output=Path(output),
        train_pairs=len(train_set),
        held_out_pairs=len(held),
        before=before,
        after=after,
        steps=result.steps,
        seconds=round(result.seconds, 2),
        first_loss=result.losses[0] if result.losses else float("nan"),
        last_loss=result.losses[-1] if result.losses else float("nan"),
        config=asdict(config),
    )
    info = {**report.to_dict(), "base_model": clip.model_id}
    clip.model.to("cpu")
    save_model_folder(clip.model, model_config_of(clip_settings, cache_dir), output, info)
    return report


def _recall(
    clip: LoadedClip, held: Sequence[Pair], tokenize: Tokenize, ks: Sequence[int]
) -> dict[str, float]:
    images, texts = encode_pairs(clip.model, held, clip.preprocess, tokenize)
    return recall_at_k(images, texts, ks)


def _tokenizer(clip: LoadedClip) -> Tokenize:
    def tokenize(texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(clip.tokenizer.tokenize(texts).ids)

    return tokenize

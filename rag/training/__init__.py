"""Contrastive fine-tuning of open_clip models (symmetric InfoNCE, AdamW, warm-up + cosine,
exact gradient accumulation, held-out Recall@k) and checkpoints the embedder loads.

Example::

    from rag.training import TrainConfig, finetune, pairs_from_store

    report = finetune(settings.clip, settings.model_cache_dir, pairs_from_store(store),
                      Path("data/models/my-clip"), TrainConfig(steps=200, lr=1e-5))
"""

from rag.training.checkpoint import is_model_folder, read_training_info, save_model_folder
from rag.training.finetune import FinetuneReport, finetune
from rag.training.loop import TrainConfig, TrainResult, train
from rag.training.loss import contrastive_loss
from rag.training.pairs import Pair, pairs_from_store, split_pairs
from rag.training.recall import recall_at_k
from rag.training.towers import TrainBatch

__all__ = [
    "FinetuneReport",
    "Pair",
    "TrainBatch",
    "TrainConfig",
    "TrainResult",
    "contrastive_loss",
    "finetune",
    "is_model_folder",
    "pairs_from_store",
    "read_training_info",
    "recall_at_k",
    "save_model_folder",
    "split_pairs",
    "train",
]

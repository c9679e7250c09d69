"""The InfoNCE loss, Recall@k and the learning-rate schedule, against direct computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rag.training.loss import contrastive_loss
from rag.training.recall import recall_at_k
from rag.training.schedule import warmup_cosine


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_loss_is_the_mean_of_both_cross_entropies() -> None:
    generator = torch.Generator().manual_seed(0)
    images = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    texts = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    scale = torch.tensor(10.0)
    logits = scale * images @ texts.T
    expected = 0.0
    for i in range(6):
        expected += -torch.log_softmax(logits[i], 0)[i] - torch.log_softmax(logits[:, i], 0)[i]
    assert contrastive_loss(images, texts, scale).item() == pytest.approx(expected.item() / 12)


def test_loss_is_small_for_aligned_pairs_and_log_n_for_identical_rows() -> None:
    aligned = torch.eye(4)
    assert contrastive_loss(aligned, aligned, torch.tensor(100.0)).item() < 1e-3
    same = F.normalize(torch.ones(4, 3), dim=-1)
    assert contrastive_loss(same, same, torch.tensor(5.0)).item() == pytest.approx(math.log(4))


def test_recall_is_one_for_identical_vectors_and_counts_misses() -> None:
    vectors = _unit(np.random.default_rng(0).normal(size=(20, 16)))
    perfect = recall_at_k(vectors, vectors, (1, 5))
    assert perfect == {"t2i@1": 1.0, "t2i@5": 1.0, "i2t@1": 1.0, "i2t@5": 1.0}
    texts = vectors.copy()
    texts[0] = _unit((0.9 * vectors[1] + 0.3 * vectors[0])[None])[
        0
    ]  # caption 0 ranks its image 2nd
    result = recall_at_k(vectors, texts, (1, 5))
    assert result["t2i@1"] == pytest.approx(19 / 20)
    assert result["t2i@5"] == 1.0


def test_recall_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="same"):
        recall_at_k(np.eye(3), np.eye(4)[:2, :3])


def test_schedule_warms_up_linearly_then_decays_to_the_floor() -> None:
    factors = [warmup_cosine(step, total=100, warmup=10, floor=0.1) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert warmup_cosine(0, total=5, warmup=0) == pytest.approx(1.0)

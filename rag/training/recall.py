"""Retrieval quality of paired embeddings: Recall@k in both directions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recall_at_k(
    image_vectors: np.ndarray, text_vectors: np.ndarray, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Share of texts whose own image ranks in the top ``k`` (``t2i@k``), and the reverse.

    Row ``i`` of both arrays is one pair; vectors are unit length (cosine = dot product).
    Example: ``recall_at_k(img, txt, (1, 5))`` -> ``{"t2i@1": 0.82, "t2i@5": 0.97, ...}``.
    """
    if len(image_vectors) != len(text_vectors) or len(image_vectors) == 0:
        raise ValueError("recall_at_k needs the same, non-zero number of image and text vectors")
    similarity = np.asarray(text_vectors, np.float32) @ np.asarray(image_vectors, np.float32).T
    result: dict[str, float] = {}
    for name, matrix in (("t2i", similarity), ("i2t", similarity.T)):
        ranks = _rank_of_diagonal(matrix)
        for k in ks:
            result[f"{name}@{k}"] = float(np.mean(ranks < k))
    return result


def _rank_of_diagonal(similarity: np.ndarray) -> np.ndarray:
    """Per row, how many columns score strictly higher than the row's own pair."""
    own = np.diag(similarity)[:, None]
    return (similarity > own).sum(axis=1)

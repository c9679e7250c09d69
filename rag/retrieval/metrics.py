"""Ranking metrics as pure functions over one query's ranked ids and its set of relevant ids.

Relevance is binary. A ranked id that repeats (two chunks of one item) counts once, at its first
position.

Example::

    recall_at_k(["a", "b", "c"], {"b", "z"}, k=2)  # 0.5
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence


def _unique(ranked: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant ids found in the first ``k`` results (0 when nothing is relevant)."""
    if not relevant:
        return 0.0
    found = sum(1 for point_id in _unique(ranked)[:k] if point_id in relevant)
    return found / len(relevant)


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """``1 / rank`` of the first relevant result, 0 when none is ranked."""
    for position, point_id in enumerate(_unique(ranked), start=1):
        if point_id in relevant:
            return 1.0 / position
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Normalised discounted cumulative gain of the first ``k`` results (binary gains)."""
    dcg = sum(
        1.0 / math.log2(position + 1)
        for position, point_id in enumerate(_unique(ranked)[:k], start=1)
        if point_id in relevant
    )
    ideal = sum(1.0 / math.log2(position + 1) for position in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


METRIC_NAMES: tuple[str, ...] = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")


def query_metrics(ranked: Sequence[str], relevant: Collection[str]) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for one query."""
    return {
        "recall@1": recall_at_k(ranked, relevant, 1),
        "recall@5": recall_at_k(ranked, relevant, 5),
        "recall@10": recall_at_k(ranked, relevant, 10),
        "mrr": reciprocal_rank(ranked, relevant),
        "ndcg@10": ndcg_at_k(ranked, relevant, 10),
    }


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each metric over queries (an empty input gives an empty dict)."""
    rows = list(per_query)
    if not rows:
        return {}
    return {name: sum(row[name] for row in rows) / len(rows) for name in rows[0]}

"""Per-group figures of one signal, from one matrix of label-to-item cosines (pure functions).

For a signal (``image``: CLIP label prompts against picture vectors; ``passage``: the passage
model's label queries against item texts) and items that each have a ``label`` and a ``group``:

* zero-shot accuracy: the share of a group's items whose best-scoring label is their own;
* exposure: each label is a query, the items are ranked by cosine, and a group's share of all
  top-``k`` slots is set against its share of the items (``exposure_ratio`` 1: proportional);
* nDCG@k per group: each query's ranking of that group's items alone, its own label relevant
  (how well the model ranks the group's items, apart from the other groups');
* gaps: the largest minus the smallest value over groups, for each of the above.

Example::

    audit = audit_signal("image", label_vectors, item_vectors, item_labels, item_groups, labels)
    audit.gaps["accuracy"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rag.errors import InvalidInputError

GAP_FIGURES = ("accuracy", "ndcg", "exposure_ratio")
"""The per-group figures whose spread over groups is reported as a gap."""
MAX_LABELS = 200
"""Most distinct labels an audit takes (each is a query and a zero-shot class)."""
MAX_GROUPS = 100
"""Most distinct groups an audit compares."""


@dataclass(frozen=True)
class GroupFigures:
    """One group's figures for one signal (``None`` where the group has nothing to measure)."""

    group: str
    items: int
    share: float
    top_k_share: float
    exposure_ratio: float | None
    accuracy: float | None
    ndcg: float | None


@dataclass(frozen=True)
class SignalAudit:
    """One signal's figures over all items and per group, and the gaps between groups."""

    signal: str
    k: int
    items: int
    queries: int
    accuracy: float | None
    ndcg: float | None
    groups: list[GroupFigures]
    gaps: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def audit_signal(
    signal: str,
    label_vectors: np.ndarray,
    item_vectors: np.ndarray,
    item_labels: Sequence[str],
    item_groups: Sequence[str],
    labels: Sequence[str],
    k: int = 5,
) -> SignalAudit:
    """Figures of ``signal``: ``label_vectors`` (one row a label of ``labels``) against
    ``item_vectors`` (one row an item, its label and group in ``item_labels``/``item_groups``)."""
    scores = np.asarray(label_vectors, np.float64) @ np.asarray(item_vectors, np.float64).T
    label_index = {label: n for n, label in enumerate(labels)}
    truth = np.array([label_index.get(label, -1) for label in item_labels])
    groups = np.array(list(item_groups), dtype=object)
    k = max(1, min(k, len(truth)))
    correct = scores.argmax(axis=0) == truth if len(truth) else np.zeros(0, bool)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    figures = [
        _group_figures(str(g), groups == g, correct, top, scores, truth)
        for g in sorted(set(groups.tolist()))
    ]
    return SignalAudit(
        signal=signal,
        k=k,
        items=len(truth),
        queries=len(labels),
        accuracy=float(correct.mean()) if len(correct) else None,
        ndcg=_mean_ndcg(scores, truth, np.ones(len(truth), bool), k),
        groups=figures,
        gaps={name: gap([getattr(f, name) for f in figures]) for name in GAP_FIGURES},
    )


def check_sizes(labels: Sequence[str], groups: Sequence[str], where: str) -> None:
    """``InvalidInputError`` unless there are 2 to :data:`MAX_LABELS` distinct labels and at
    most :data:`MAX_GROUPS` distinct groups."""
    n_labels, n_groups = len(set(labels)), len(set(groups))
    if not 2 <= n_labels <= MAX_LABELS:
        raise InvalidInputError(
            f"{where} has {n_labels} distinct label(s): the audit needs 2 to {MAX_LABELS} "
            "(a label is a class such as 'cat', not a free text)"
        )
    if n_groups > MAX_GROUPS:
        raise InvalidInputError(
            f"{where} has {n_groups} distinct groups: the audit compares at most {MAX_GROUPS}"
        )


def gap(values: Sequence[float | None]) -> float | None:
    """Largest minus smallest of the values present; ``None`` with fewer than two."""
    present = [v for v in values if v is not None]
    return max(present) - min(present) if len(present) >= 2 else None


def ndcg_at_k(relevant_in_order: Sequence[bool], total_relevant: int, k: int) -> float | None:
    """nDCG@k of a ranking given as relevance flags (best first) with binary gains."""
    if total_relevant == 0:
        return None
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = np.asarray(list(relevant_in_order)[:k], np.float64)
    dcg = float((gains * discounts[: len(gains)]).sum())
    ideal = float(discounts[: min(k, total_relevant)].sum())
    return dcg / ideal


def _group_figures(
    group: str,
    members: np.ndarray,
    correct: np.ndarray,
    top: np.ndarray,
    scores: np.ndarray,
    truth: np.ndarray,
) -> GroupFigures:
    share = float(members.mean())
    top_k_share = float(members[top].mean()) if top.size else 0.0
    k = top.shape[1] if top.ndim == 2 else 0
    return GroupFigures(
        group=group,
        items=int(members.sum()),
        share=share,
        top_k_share=top_k_share,
        exposure_ratio=top_k_share / share if share > 0 else None,
        accuracy=float(correct[members].mean()) if members.any() else None,
        ndcg=_mean_ndcg(scores, truth, members, k),
    )


def _mean_ndcg(scores: np.ndarray, truth: np.ndarray, members: np.ndarray, k: int) -> float | None:
    """Mean over queries of nDCG@k of the ranking of the ``members`` items only."""
    chosen = np.flatnonzero(members)
    values = []
    for query in range(scores.shape[0]):
        order = chosen[np.argsort(-scores[query, chosen], kind="stable")]
        relevant = truth[order] == query
        value = ndcg_at_k(relevant.tolist(), int(relevant.sum()), k)
        if value is not None:
            values.append(value)
    return float(np.mean(values)) if values else None

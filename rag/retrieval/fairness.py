"""Group-fair exposure over a search's ranked hits, as a pure function.

Each value of a payload field is a group; the top-k is re-ordered so that at every position each
group holds about its target share: ``proportional`` to its share of the candidates, or
``equal`` for every group among them. Each position takes the best remaining hit of the group
furthest behind its target (ties: the group whose next hit ranks higher), so the top-k's counts
stay within one item of the targets where the groups have the hits. Hits without the field form
the group ``(none)``.

Example::

    hits, report = fair_top_k(hits, 10, FairExposure("metadata.group", "equal"))
    report.shares     # {"a": 5, "b": 5}
    report.fused_loss  # fused score given up against the plain top-10
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from rag.errors import InvalidInputError
from rag.retrieval import diversity
from rag.retrieval.diversity import check_field, group_value
from rag.retrieval.types import FairExposure, FairnessReport, FairTarget, Hit, Query

FAIR_TARGETS: tuple[FairTarget, ...] = get_args(FairTarget)
NO_GROUP = "(none)"
"""The group of hits whose payload lacks the field."""


def check_spread(query: Query) -> None:
    """Check ``query``'s diversity and fair exposure before any work is spent on it."""
    if query.diversity is not None:
        diversity.checked(query.diversity)
    if query.fair is not None:
        checked(query.fair)


def checked(fair: FairExposure) -> FairExposure:
    """``fair`` if its field and target are usable, else an ``InvalidInputError``."""
    check_field(fair.field, "fair_by")
    if fair.target not in FAIR_TARGETS:
        raise InvalidInputError(
            f"unknown fair target {fair.target!r}: use one of {', '.join(FAIR_TARGETS)}"
        )
    return fair


def group_of(hit: Hit, field: str) -> str:
    """``hit``'s group: the value of ``field`` as text, :data:`NO_GROUP` when it has none."""
    value = group_value(hit, field)
    return NO_GROUP if value is None else str(value)


def fair_top_k(hits: Sequence[Hit], k: int, fair: FairExposure) -> tuple[list[Hit], FairnessReport]:
    """``hits`` (ranked) with their first ``k`` re-ordered for ``fair``'s target shares, the rest
    after them in their order, and the report of the top-k."""
    groups = [group_of(hit, fair.field) for hit in hits]
    found: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        found.setdefault(group, []).append(index)
    share = _shares(found, len(hits), fair.target)
    counts = dict.fromkeys(found, 0)
    chosen: list[int] = []
    for position in range(1, min(k, len(hits)) + 1):
        open_groups = [g for g in found if counts[g] < len(found[g])]
        group = max(
            open_groups,
            key=lambda g: (share[g] * position - counts[g], -found[g][counts[g]]),
        )
        chosen.append(found[group][counts[group]])
        counts[group] += 1
    taken = set(chosen)
    ordered = [hits[i] for i in chosen] + [h for i, h in enumerate(hits) if i not in taken]
    return ordered, _report(hits, chosen, counts, share, fair, len(chosen))


def _shares(found: dict[str, list[int]], total: int, target: FairTarget) -> dict[str, float]:
    if target == "equal":
        return {group: 1.0 / len(found) for group in found}
    return {group: len(rows) / total for group, rows in found.items()}


def _report(
    hits: Sequence[Hit],
    chosen: list[int],
    counts: dict[str, int],
    share: dict[str, float],
    fair: FairExposure,
    k: int,
) -> FairnessReport:
    plain = sum(hit.scores.fused for hit in hits[:k])
    fair_sum = sum(hits[i].scores.fused for i in chosen)
    loss = plain - fair_sum
    return FairnessReport(
        field=fair.field,
        target=fair.target,
        shares={g: n for g, n in counts.items() if n},
        targets={g: round(s * k, 6) for g, s in share.items()},
        fused_loss=loss,
        fused_loss_ratio=loss / plain if plain > 0 else 0.0,
    )

"""Diversity over a search's fused hits, as pure functions: maximal marginal relevance on the
stored vectors, and collapsing by a payload field.

Example::

    diversity = parse_diversity("mmr:0.5")           # Diversity("mmr", lambda_=0.5)
    spread = mmr(hits, vectors, {"image": 1.0}, 0.5, k=10)
    one_each = collapse(hits, "document")            # the best hit per document, with .folded
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, get_args

import numpy as np

from rag import payload as keys
from rag.errors import InvalidInputError
from rag.retrieval.plan import SearchPlan
from rag.retrieval.types import Diversity, DiversityMode, Hit
from rag.signals import SPARSE_SIGNALS
from rag.store.base import VectorStore

DIVERSITY_MODES: tuple[DiversityMode, ...] = get_args(DiversityMode)
MAX_FIELD_CHARS = 200
"""The longest payload field name a request may give."""
DUPLICATE = "duplicate"
"""The ``collapse`` field that folds a picture marked ``duplicate_of`` into the item it copies."""

Vectors = Mapping[str, Mapping[str, np.ndarray]]
"""Point id -> vector name -> the stored dense vector."""


def parse_diversity(text: str) -> Diversity:
    """``"mmr"``, ``"mmr:0.7"``, ``"collapse"`` or ``"collapse:metadata.camera"`` as a checked
    :class:`Diversity`; the error shows the forms."""
    mode, _, argument = text.strip().partition(":")
    mode, argument = mode.strip(), argument.strip()
    if mode == "mmr":
        try:
            lambda_ = float(argument) if argument else 0.5
        except ValueError:
            raise InvalidInputError(f"cannot read mmr lambda {argument!r}: write mmr:0.5") from None
        return checked(Diversity("mmr", lambda_=lambda_))
    if mode == "collapse":
        return checked(Diversity("collapse", field=argument or keys.DOCUMENT))
    raise InvalidInputError(
        f"unknown diversity {text!r}: use mmr, mmr:<lambda 0..1>, collapse or collapse:<field>"
    )


def checked(diversity: Diversity) -> Diversity:
    """``diversity`` if its mode, lambda and field are usable, else an ``InvalidInputError``."""
    if diversity.mode not in DIVERSITY_MODES:
        raise InvalidInputError(
            f"unknown diversity {diversity.mode!r}: use one of {', '.join(DIVERSITY_MODES)}"
        )
    if not (math.isfinite(diversity.lambda_) and 0.0 <= diversity.lambda_ <= 1.0):
        raise InvalidInputError(f"mmr lambda must be between 0 and 1, got {diversity.lambda_}")
    check_field(diversity.field, "collapse")
    return diversity


def check_field(field: str, option: str) -> str:
    """``field`` if it names a payload field (``document``, ``metadata.camera``), else an error
    saying what ``option`` needs."""
    parts = field.split(".")
    if not field or len(field) > MAX_FIELD_CHARS or not all(p.strip() for p in parts):
        raise InvalidInputError(
            f"{option} needs a payload field of at most {MAX_FIELD_CHARS} characters such as "
            f"document, page, source or metadata.camera; got {field!r}"
        )
    return field


def group_value(hit: Hit, field: str) -> Any:
    """The hashable value of ``field`` in ``hit``'s payload, ``None`` when it has none.

    ``document``: the document id; ``page``: (document id, page); ``duplicate``: the id of the
    item it copies (``duplicate_of``), else its own; a dotted name walks nested fields
    (``metadata.camera``); a bare name not at the top is looked up in ``metadata``."""
    payload = hit.payload
    if field == keys.DOCUMENT:
        return _nested(payload, ("document", "id"))
    if field == keys.PAGE:
        page = payload.get(keys.PAGE)
        document = _nested(payload, ("document", "id")) or payload.get(keys.SOURCE)
        return None if page is None or document is None else (document, _hashable(page))
    if field == DUPLICATE:
        return payload.get(keys.DUPLICATE_OF) or hit.id
    parts = tuple(field.split("."))
    if len(parts) == 1 and parts[0] not in payload:
        parts = (keys.METADATA, parts[0])
    return _hashable(_nested(payload, parts))


def collapse(hits: Sequence[Hit], field: str) -> list[Hit]:
    """The first (best) hit per value of ``field`` in ``hits``' order, each with ``folded``: how
    many later hits shared its value. Hits without the field are each kept."""
    first: dict[Any, int] = {}
    kept: list[Hit] = []
    folded: list[int] = []
    for hit in hits:
        value = group_value(hit, field)
        if value is None:
            kept.append(hit)
            folded.append(0)
        elif value in first:
            folded[first[value]] += 1
        else:
            first[value] = len(kept)
            kept.append(hit)
            folded.append(0)
    return [replace(hit, folded=n) if n else hit for hit, n in zip(kept, folded, strict=True)]


def mmr(
    hits: Sequence[Hit],
    vectors: Vectors,
    weights: Mapping[str, float],
    lambda_: float,
    k: int,
) -> list[Hit]:
    """``hits`` (best first) with their first ``k`` chosen by maximal marginal relevance, the
    rest after them in their order.

    Relevance is the fused score over the highest of ``hits``; the similarity of two hits is
    the ``weights``-weighted mean cosine of the vectors both have (0 when they share none).
    ``lambda_`` 1 keeps the order; lower values trade relevance for novelty."""
    n = len(hits)
    if n <= 1 or lambda_ >= 1.0:
        return list(hits)
    relevance = _scaled(np.array([hit.scores.fused for hit in hits], np.float64))
    similar = similarities([hit.id for hit in hits], vectors, weights)
    chosen = [0]
    closest = similar[0].copy()
    taken = np.zeros(n, bool)
    taken[0] = True
    for _ in range(min(k, n) - 1):
        gain = lambda_ * relevance - (1.0 - lambda_) * closest
        gain[taken] = -np.inf
        best = int(np.argmax(gain))  # ties: the higher fused hit
        chosen.append(best)
        taken[best] = True
        np.maximum(closest, similar[best], out=closest)
    rest = [i for i in range(n) if not taken[i]]
    return [hits[i] for i in chosen + rest]


def similarities(ids: Sequence[str], vectors: Vectors, weights: Mapping[str, float]) -> np.ndarray:
    """``(len(ids), len(ids))``: the ``weights``-weighted mean cosine of each pair over the
    vectors both points have (0 where they share none)."""
    n = len(ids)
    total = np.zeros((n, n), np.float32)
    weight = np.zeros((n, n), np.float32)
    for name, w in weights.items():
        rows = [row for row, pid in enumerate(ids) if name in vectors.get(pid, {})]
        if w <= 0 or not rows:
            continue
        matrix = np.stack([vectors[ids[row]][name] for row in rows]).astype(np.float32)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        if len(rows) == n:  # every point has the vector (the usual case): no index needed
            total += w * (matrix @ matrix.T)
            weight += w
        else:
            pairs = np.ix_(rows, rows)
            total[pairs] += w * (matrix @ matrix.T)
            weight[pairs] += w
    return np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)


def _scaled(values: np.ndarray) -> np.ndarray:
    """``values`` over the highest (so cosines keep their spread); min-max scaled when the
    highest is not positive."""
    low, high = float(values.min()), float(values.max())
    if high > 0:
        return values / high
    return np.ones_like(values) if high <= low else (values - low) / (high - low)


def _nested(payload: Mapping[str, Any], parts: Sequence[str]) -> Any:
    value: Any = payload
    for part in parts:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _hashable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def diversify(
    store: VectorStore, plan: SearchPlan, diversity: Diversity, hits: Sequence[Hit]
) -> list[Hit]:
    """``hits`` (fused, best first) spread by ``diversity``: collapsed, or with their first
    ``plan.candidates`` chosen by :func:`mmr` on the stored vectors of the dense signals
    searched (weighted as the plan weighs them; equally when those weights are all 0)."""
    if diversity.mode == "collapse":
        return collapse(hits, diversity.field)
    dense = [name for name in plan.vectors if name not in SPARSE_SIGNALS]
    if not dense:
        raise InvalidInputError(
            "mmr compares stored dense vectors: search a dense signal too (image, text or "
            "passage), or use collapse"
        )
    weights: dict[str, float] = {name: plan.weights.get(name, 0.0) for name in dense}
    if sum(weights.values()) <= 0:
        weights = dict.fromkeys(dense, 1.0)
    points = store.get([hit.id for hit in hits], with_vectors=dense)
    vectors = {
        p.id: {n: v for n, v in p.vectors.items() if isinstance(v, np.ndarray)} for p in points
    }
    return mmr(hits, vectors, weights, diversity.lambda_, plan.candidates)

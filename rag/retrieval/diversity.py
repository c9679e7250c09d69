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
from dataclasses import dataclass, replace
from typing import Any, get_args

import numpy as np

from rag import payload as keys
from rag.errors import InvalidInputError
from rag.retrieval.plan import SearchPlan
from rag.retrieval.types import Diversity, DiversityMode, Hit
from rag.signals import SPARSE_SIGNALS
from rag.store.base import StoredPoint, VectorStore

DIVERSITY_MODES: tuple[DiversityMode, ...] = get_args(DiversityMode)
MAX_FIELD_CHARS = 200
"""The longest payload field name a request may give."""
DUPLICATE = "duplicate"
"""The ``collapse`` field that folds a picture marked ``duplicate_of`` into the item it copies."""
MMR_POOL_FACTOR = 2
"""``mmr`` chooses a search's candidates from this many times as many fused candidates, and
from at least :data:`MMR_POOL_MIN` (at most the prefetch limit): room to pass over a near-copy
for every hit kept. Each candidate's vectors are read and compared with the others'."""
MMR_POOL_MIN = 20
"""The fewest fused candidates ``mmr`` chooses from (LangChain's default ``fetch_k``): ten
near-copies at the top of a top 5 leave ten others to choose from."""

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
    return _value(hit.id, hit.payload, field)


def _value(point_id: str, payload: Mapping[str, Any], field: str) -> Any:
    if field == keys.DOCUMENT:
        return _nested(payload, ("document", "id"))
    if field == keys.PAGE:
        page = payload.get(keys.PAGE)
        document = _nested(payload, ("document", "id")) or payload.get(keys.SOURCE)
        return None if page is None or document is None else (document, _hashable(page))
    if field == DUPLICATE:
        return payload.get(keys.DUPLICATE_OF) or point_id
    parts = tuple(field.split("."))
    if len(parts) == 1 and parts[0] not in payload:
        parts = (keys.METADATA, parts[0])
    return _hashable(_nested(payload, parts))


def collapse(hits: Sequence[Hit], field: str) -> list[Hit]:
    """The first (best) hit per value of ``field`` in ``hits``' order, each with ``folded``: how
    many later hits shared its value. Hits without the field are each kept."""
    kept, folded = _folds([group_value(hit, field) for hit in hits])
    return [replace(hits[i], folded=n) if n else hits[i] for i, n in zip(kept, folded, strict=True)]


def _folds(values: Sequence[Any]) -> tuple[list[int], list[int]]:
    """The position of the first of each value (each ``None`` kept), and how many later
    positions shared it."""
    first: dict[Any, int] = {}
    kept: list[int] = []
    folded: list[int] = []
    for position, value in enumerate(values):
        if value is None:
            kept.append(position)
            folded.append(0)
        elif value in first:
            folded[first[value]] += 1
        else:
            first[value] = len(kept)
            kept.append(position)
            folded.append(0)
    return kept, folded


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
    if len(hits) <= 1 or lambda_ >= 1.0:
        return list(hits)
    similar = similarities([hit.id for hit in hits], vectors, weights)
    fused = np.array([hit.scores.fused for hit in hits], np.float64)
    return [hits[i] for i in mmr_order(fused, similar, lambda_, k)]


def mmr_order(fused: np.ndarray, similar: np.ndarray, lambda_: float, k: int) -> list[int]:
    """Positions of the fused scores ``fused`` (best first) with their first ``k`` chosen by
    maximal marginal relevance over the pairwise similarities ``similar``, the rest after them
    in their order (:func:`mmr`)."""
    n = len(fused)
    if n <= 1 or lambda_ >= 1.0:
        return list(range(n))
    relevance = lambda_ * _scaled(fused)
    penalty = (1.0 - lambda_) * np.asarray(similar, np.float64)  # novelty's cost of each pair
    chosen = [0]
    closest = penalty[0].copy()
    closest[0] = np.inf  # taken: never chosen again
    margin = np.empty(n)
    for _ in range(min(k, n) - 1):
        best = int(np.subtract(relevance, closest, out=margin).argmax())  # ties: the higher hit
        chosen.append(best)
        np.maximum(closest, penalty[best], out=closest)
        closest[best] = np.inf
    taken = set(chosen)
    return chosen + [i for i in range(n) if i not in taken]


def similarities(ids: Sequence[str], vectors: Vectors, weights: Mapping[str, float]) -> np.ndarray:
    """``(len(ids), len(ids))``: the ``weights``-weighted mean cosine of each pair over the
    vectors both points have (0 where they share none)."""
    n = len(ids)
    held = [vectors.get(pid, _NONE) for pid in ids]
    used = {name: w for name, w in weights.items() if w > 0}
    if used and all(name in own for name in used for own in held):
        # every point has every vector (the usual case): one product of the unit vectors side
        # by side, each scaled by the square root of its share of the weight
        whole = sum(used.values())
        parts = [
            _unit_rows([own[name] for own in held], math.sqrt(w / whole))
            for name, w in used.items()
        ]
        matrix = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return matrix @ matrix.T
    total = np.zeros((n, n), np.float32)
    weight = np.zeros((n, n), np.float32)
    for name, w in used.items():
        rows = [row for row, own in enumerate(held) if name in own]
        if rows:
            matrix = _unit_rows([held[row][name] for row in rows])
            pairs = np.ix_(rows, rows)
            total[pairs] += w * (matrix @ matrix.T)
            weight[pairs] += w
    return np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)


_NONE: Mapping[str, np.ndarray] = {}


def _unit_rows(rows: Sequence[np.ndarray], length: float = 1.0) -> np.ndarray:
    """``rows`` stacked as float32, each scaled to ``length`` (a zero row stays zero)."""
    matrix = np.stack(rows).astype(np.float32, copy=False)
    lengths = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    matrix *= (length / np.maximum(lengths, 1e-12))[:, None]
    return matrix


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
        if type(value) is not dict and not isinstance(value, Mapping):  # dict: no ABC check
            return None
        value = value.get(part)
    return value


def _hashable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def pool_size(plan: SearchPlan, diversity: Diversity) -> int:
    """How many fused candidates ``diversity`` chooses from: for ``mmr``
    :data:`MMR_POOL_FACTOR` times the plan's candidates, at least :data:`MMR_POOL_MIN`; for
    ``collapse`` the prefetch limit (a document's pages may fill many places). Never more than
    the prefetch limit."""
    if diversity.mode == "mmr":
        wanted = max(MMR_POOL_MIN, MMR_POOL_FACTOR * plan.candidates)
        return min(plan.prefetch_limit, wanted)
    return plan.prefetch_limit


def diversify(
    store: VectorStore, plan: SearchPlan, diversity: Diversity, hits: Sequence[Hit]
) -> list[Hit]:
    """``hits`` (fused, best first) spread by ``diversity``: collapsed, or with their first
    ``plan.candidates`` chosen by :func:`mmr` on the stored vectors of the dense signals
    searched (weighted as the plan weighs them; equally when those weights are all 0)."""
    if diversity.mode == "collapse":
        return collapse(hits, diversity.field)
    dense, weights = _compared(plan)
    points = store.get([hit.id for hit in hits], with_vectors=dense)
    return mmr(hits, _vectors(points), weights, diversity.lambda_, plan.candidates)


@dataclass(frozen=True)
class Spread:
    """What a diversity keeps of a pool of fused ids: their positions in the pool, in its
    order (``order``), how many each folded (``folded``), and the payloads (and for ``mmr`` the
    dense vectors ``compared``, by id) of the kept ones, read on the way."""

    order: list[int]
    folded: list[int]
    payloads: dict[str, dict[str, Any]]
    vectors: Vectors
    compared: tuple[str, ...]

    def scores(
        self, ids: Sequence[str], queries: Mapping[str, Any], names: Sequence[str]
    ) -> np.ndarray | None:
        """The exact scores of the kept ``ids`` (rows) against the query of each of ``names``
        (columns), from the vectors read: the cosine, each stored vector being a unit one, NaN
        where a point lacks the vector; ``None`` unless every name is one of ``compared`` (mmr
        read the vectors; the candidates' table gives the scores then, with an engine call)."""
        if not names or any(name not in self.compared for name in names):
            return None
        table = np.full((len(ids), len(names)), np.nan)
        for column, name in enumerate(names):
            query = np.asarray(queries[name], np.float32)
            norm = math.sqrt(float(np.dot(query, query)))
            unit = query / norm if norm > 0 else query
            rows = [row for row, pid in enumerate(ids) if name in self.vectors.get(pid, _NONE)]
            if rows:
                stored = np.stack([self.vectors[ids[row]][name] for row in rows])
                table[rows, column] = np.vecdot(stored, unit)
        return table


def spread(
    store: VectorStore,
    plan: SearchPlan,
    diversity: Diversity,
    ids: Sequence[str],
    fused: Sequence[float],
    keep: int | None = None,
) -> Spread:
    """:func:`diversify` on the pool ``ids`` (fused scores ``fused``, best first) before any
    hit is made of them, keeping the first ``keep`` (all when ``None``): the payloads (and for
    ``mmr`` the vectors) of the pool are read once, here, in one ``store.get``; a point
    deleted since the search is left out."""
    if diversity.mode == "collapse":
        points = store.get(ids)
    else:
        dense, weights = _compared(plan)
        points = store.get(ids, with_vectors=dense)
    payloads = {p.id: p.payload for p in points}
    live = [i for i, pid in enumerate(ids) if pid in payloads]
    vectors: Vectors = {}
    if diversity.mode == "collapse":
        values = [_value(ids[i], payloads[ids[i]], diversity.field) for i in live]
        kept, folded = _folds(values)
        order = [live[i] for i in kept]
    else:
        live_ids = [ids[i] for i in live]
        vectors = _vectors(points)
        similar = similarities(live_ids, vectors, weights)
        scores = np.array([fused[i] for i in live], np.float64)
        order = [live[i] for i in mmr_order(scores, similar, diversity.lambda_, plan.candidates)]
        folded = [0] * len(order)
    if keep is not None:
        order, folded = order[:keep], folded[:keep]
    kept_ids = [ids[i] for i in order]
    kept_payloads = {pid: payloads[pid] for pid in kept_ids}
    if diversity.mode == "collapse":
        return Spread(order, folded, kept_payloads, {}, ())
    kept_vectors = {pid: vectors[pid] for pid in kept_ids}
    return Spread(order, folded, kept_payloads, kept_vectors, tuple(dense))


def _compared(plan: SearchPlan) -> tuple[list[str], dict[str, float]]:
    """The dense vectors ``mmr`` compares for ``plan``, and their weights."""
    dense: list[str] = [name for name in plan.vectors if name not in SPARSE_SIGNALS]
    if not dense:
        raise InvalidInputError(
            "mmr compares stored dense vectors: search a dense signal too (image, text or "
            "passage), or use collapse"
        )
    weights: dict[str, float] = {name: plan.weights.get(name, 0.0) for name in dense}
    if sum(weights.values()) <= 0:
        weights = dict.fromkeys(dense, 1.0)
    return dense, weights


def _vectors(points: Sequence[StoredPoint]) -> dict[str, dict[str, np.ndarray]]:
    return {p.id: {n: v for n, v in p.vectors.items() if isinstance(v, np.ndarray)} for p in points}

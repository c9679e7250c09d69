"""Engine-neutral checks and conversions shared by every store engine.

Both engines receive the same plain-JSON payloads and canonical UUID strings, and return float32
vectors, so they answer identically.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.errors import CollectionMismatchError, InvalidInputError, NotFoundError
from rag.store.base import VECTOR_NAMES, PointRecord, Prefetch, ScoredPoint, StoredPoint

ENGINE_RRF_K = 2
"""The rank constant both engines use for RRF (Qdrant's default): score = sum 1 / (k + rank)."""

T = TypeVar("T")


def canonical_id(point_id: Any) -> str:
    """The lowercase hyphenated form of a UUID id; anything else is rejected."""
    try:
        return str(point_id if isinstance(point_id, uuid.UUID) else uuid.UUID(str(point_id)))
    except ValueError:
        raise InvalidInputError(
            f"point id {point_id!r} is not a UUID: derive ids with rag.identity.point_id()"
        ) from None


def canonical_ids(ids: Iterable[Any]) -> list[str]:
    return [canonical_id(point_id) for point_id in ids]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise InvalidInputError(f"payload value of type {type(value).__name__} is not JSON: convert it")


def json_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` as plain JSON (datetimes become ISO strings, tuples lists, numpy scalars
    numbers, floats keep 15 significant digits), the form both engines return unchanged."""
    try:
        text = json.dumps(dict(payload), default=_json_default, allow_nan=False)
    except ValueError as exc:
        message = f"payload cannot be stored as JSON ({exc}): remove NaN/inf values"
        raise InvalidInputError(message) from None
    result: dict[str, Any] = json.loads(text, parse_float=_float15)
    return result


def _float15(literal: str) -> float:
    """A float rounded to 15 significant digits: Qdrant Edge returns those bit-exact, while ~1 in
    10 floats of full 17-digit precision comes back one ulp off."""
    return float(f"{float(literal):.15g}")


def vector_lists(point: PointRecord, dim: int) -> dict[str, list[float]]:
    """The point's vectors as lists, checked for names, size and finiteness."""
    if not point.vectors:
        raise InvalidInputError(f"point {point.id} has no vector: give it an image or text vector")
    out: dict[str, list[float]] = {}
    for name, vector in point.vectors.items():
        if name not in VECTOR_NAMES:
            raise InvalidInputError(f"unknown vector name {name!r}: use one of {VECTOR_NAMES}")
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (dim,):
            raise InvalidInputError(
                f"vector {name!r} of point {point.id} has shape {array.shape}; "
                f"the collection needs ({dim},): embed with the collection's model"
            )
        if not np.isfinite(array).all():
            raise InvalidInputError(f"vector {name!r} of point {point.id} has NaN or inf values")
        out[name] = array.tolist()
    return out


def query_vector(vector: np.ndarray, dim: int) -> list[float]:
    """A query vector as a list, checked for size."""
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.shape != (dim,):
        raise InvalidInputError(f"query vector has size {array.size}; the collection needs {dim}")
    return array.tolist()


def float32_vectors(raw: Any) -> dict[str, np.ndarray]:
    """An engine's named vectors as float32 numpy arrays (missing names are left out)."""
    if not isinstance(raw, Mapping):
        return {}
    return {
        name: np.asarray(raw[name], dtype=np.float32)
        for name in VECTOR_NAMES
        if raw.get(name) is not None
    }


def stored_point(record: Any) -> StoredPoint:
    """An engine's record (``.id``, ``.payload``, ``.vector``) as a :class:`StoredPoint`."""
    return StoredPoint(
        id=canonical_id(record.id),
        payload=dict(record.payload or {}),
        vectors=float32_vectors(record.vector),
    )


def scored_point(hit: Any) -> ScoredPoint:
    """An engine's scored point as a :class:`ScoredPoint`."""
    return ScoredPoint(
        id=canonical_id(hit.id),
        score=float(hit.score),
        payload=dict(hit.payload or {}),
        vectors=float32_vectors(hit.vector),
    )


def ordered_like(ids: Sequence[str], items: Iterable[T], key: Any) -> list[T]:
    """``items`` in the order of ``ids`` (missing ones left out)."""
    by_id = {key(item): item for item in items}
    return [by_id[point_id] for point_id in ids if point_id in by_id]


def sort_hits(hits: list[ScoredPoint]) -> list[ScoredPoint]:
    """Best first; ties broken by id so both engines return one order."""
    return sorted(hits, key=lambda hit: (-hit.score, hit.id))


def check_limit(limit: int, what: str = "limit") -> None:
    if limit < 1:
        raise InvalidInputError(f"{what} must be at least 1, got {limit}")


def check_prefetches(prefetches: Sequence[Prefetch]) -> None:
    if not prefetches:
        raise InvalidInputError("a fused query needs at least one prefetch")
    for prefetch in prefetches:
        if prefetch.vector_name not in VECTOR_NAMES:
            raise InvalidInputError(
                f"unknown vector name {prefetch.vector_name!r}: use one of {VECTOR_NAMES}"
            )
        check_limit(prefetch.limit, "prefetch limit")


def check_dims(collection: str, found: Mapping[str, tuple[int, str]], dim: int) -> None:
    """Raise ``CollectionMismatchError`` unless ``found`` (name -> (size, distance)) is ours."""
    wanted = {name: (dim, "Cosine") for name in VECTOR_NAMES}
    if dict(found) == wanted:
        return
    sizes = {size for size, _ in found.values()} or {0}
    distances = {distance for _, distance in found.values()} or {"none"}
    names = "/".join(sorted(found)) or "no named"
    raise CollectionMismatchError(
        f"collection {collection!r} has {names} vectors of size "
        f"{'/'.join(map(str, sorted(sizes)))} ({'/'.join(sorted(distances))}); this embedder "
        f"needs image/text of size {dim} (Cosine): use another MMRAG_STORE__COLLECTION or delete it"
    )


def missing_collection(collection: str) -> NotFoundError:
    return NotFoundError(
        f"collection {collection!r} does not exist yet: call ensure_collection(dim) first "
        "(ingesting items creates it)"
    )

"""Tenants inside one collection: every point carries ``rag.payload.TENANT``, and a tenant sees
and writes only its own points through a :class:`TenantStore`.

Why a payload field and not a collection per tenant: one collection keeps one set of shards,
one HNSW graph build, one lock file and one open Edge shard however many tenants there are;
Qdrant's keyword index with ``is_tenant`` groups each tenant's points on disk so its searches
stay as fast as in a collection of its own. A collection per tenant would multiply open shards,
memory and start-up time by the number of tenants, and creating one would be an admin step.

Lexical statistics are the tenant's own. The engine weighs a query term by its inverse document
frequency over the collection (``Modifier.IDF``); were term ids shared, tenant A's scores would
tell how many of every tenant's points hold a word. A tenant's term ids are therefore its own
(:class:`TermSpace`: a keyed bijection of the 32-bit ids, applied on write and on query), so the
document frequency behind A's score counts A's points only. The key comes from a file the
deployment keeps (:func:`term_key`), so nobody can craft a word whose id lands on another
tenant's. What the engine still counts collection-wide is ``N``, the number of points with a
lexical vector: one number, not any word's.

Example::

    store = TenantStore(services.store, "acme")
    store.upsert(points)          # payload["tenant"] = "acme" on each point
    store.count()                 # acme's points only
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag import payload as keys
from rag.embedding.base import SparseTerms
from rag.signals import SPARSE_SIGNALS
from rag.store.base import (
    CollectionLayout,
    Filter,
    MatchValue,
    PointRecord,
    QueryVector,
    StoredPoint,
    VectorStore,
)
from rag.store.candidates import Candidates

TERM_KEY_FILE = "tenant-terms.key"
"""The file under the files folder (shared by every process of a deployment) that keys the
tenants' term ids."""
_MASK = 0xFFFFFFFF


def tenant_filter(tenant: str, flt: Filter | None = None) -> Filter:
    """``flt`` and "the point belongs to ``tenant``"."""
    condition = MatchValue(keys.TENANT, tenant)
    if flt is None:
        return Filter(must=(condition,))
    return replace(flt, must=(*flt.must, condition))


def id_namespace(collection: str, tenant: str) -> str:
    """The namespace point ids of ``tenant`` derive from: two tenants ingesting the same file
    get two points, never one that both overwrite."""
    return f"{collection}/{tenant}"


def term_key(folder: Path) -> bytes:
    """The deployment's key for tenants' term ids, read from ``folder/tenant-terms.key`` or
    written there once (32 random bytes; the first writer wins a race)."""
    path = folder / TERM_KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        key = secrets.token_bytes(32)
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


class TermSpace:
    """A tenant's own lexical term ids: ``((id ^ a) * b + c) mod 2**32`` with ``a, b, c`` (``b``
    odd) derived from the tenant and the deployment's key. A bijection, so no two of the
    tenant's terms share an id that did not before; :meth:`decode` undoes :meth:`encode`."""

    def __init__(self, tenant: str, key: bytes = b"") -> None:
        digest = hashlib.blake2b(
            tenant.encode(), key=key[:64], digest_size=12, person=b"mmrag-terms"
        ).digest()
        self._xor, mul, self._add = (int.from_bytes(digest[i : i + 4], "little") for i in (0, 4, 8))
        self._mul = mul | 1
        self._inverse = pow(self._mul, -1, 1 << 32)

    def encode(self, terms: SparseTerms) -> SparseTerms:
        if len(terms.indices) != len(terms.values) or not all(
            isinstance(i, int) and 0 <= i <= _MASK for i in terms.indices
        ):
            return terms  # malformed: the engine refuses it with its own reason
        ids = np.asarray(terms.indices, dtype=np.uint64)
        return _sorted(((ids ^ self._xor) * self._mul + self._add) & _MASK, terms.values)

    def decode(self, terms: SparseTerms) -> SparseTerms:
        ids = np.asarray(terms.indices, dtype=np.uint64)
        return _sorted(
            (((ids - self._add) & _MASK) * self._inverse & _MASK) ^ self._xor, terms.values
        )

    def encode_vectors(self, vectors: Mapping[str, Any]) -> dict[str, Any]:
        """``vectors`` with each sparse signal's terms in this tenant's ids."""
        return {
            name: self.encode(v) if name in SPARSE_SIGNALS and isinstance(v, SparseTerms) else v
            for name, v in vectors.items()
        }

    def decode_vectors(self, vectors: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: self.decode(v) if name in SPARSE_SIGNALS and isinstance(v, SparseTerms) else v
            for name, v in vectors.items()
        }


def _sorted(ids: np.ndarray, values: Sequence[float]) -> SparseTerms:
    order = np.argsort(ids, kind="stable")
    return SparseTerms(tuple(int(i) for i in ids[order]), tuple(float(values[i]) for i in order))


class TenantStore:
    """A :class:`VectorStore` view of ``base`` restricted to one tenant's points.

    ``collection`` is the id namespace (:func:`id_namespace`); ``base.collection`` is the real
    collection. Closing the view leaves ``base`` open (its owner closes it).
    """

    def __init__(self, base: VectorStore, tenant: str, terms_key: bytes = b"") -> None:
        if not tenant:
            raise ValueError("a tenant needs a name")
        self.base = base
        self.tenant = tenant
        self.collection = id_namespace(base.collection, tenant)
        self.terms = TermSpace(tenant, terms_key)

    # --- lifecycle: the base store's ---------------------------------------------------------

    def ensure_collection(self, layout: CollectionLayout) -> None:
        self.base.ensure_collection(layout)

    def collection_layout(self) -> CollectionLayout | None:
        return self.base.collection_layout()

    def collection_dim(self) -> int | None:
        return self.base.collection_dim()

    def flush(self) -> None:
        self.base.flush()

    def optimize(self) -> bool:
        return self.base.optimize()

    def close(self) -> None:
        """Nothing to do: the base store belongs to whoever opened it."""

    # --- writes: stamped / restricted ----------------------------------------------------------

    def upsert(self, points: Sequence[PointRecord]) -> None:
        stamped = [
            replace(
                point,
                vectors=self.terms.encode_vectors(point.vectors),
                payload={**point.payload, keys.TENANT: self.tenant},
            )
            for point in points
        ]
        self.base.upsert(stamped)

    def delete(self, ids: Sequence[str]) -> None:
        mine = [point.id for point in self.get(ids)]
        if mine:
            self.base.delete(mine)

    def delete_by_filter(self, flt: Filter) -> None:
        self.base.delete_by_filter(tenant_filter(self.tenant, flt))

    # --- reads: filtered -----------------------------------------------------------------------

    def get(
        self, ids: Sequence[str], with_vectors: bool | Sequence[str] = False
    ) -> list[StoredPoint]:
        found = self.base.get(ids, with_vectors=with_vectors)
        return [
            self._read(point) for point in found if point.payload.get(keys.TENANT) == self.tenant
        ]

    def count(self, flt: Filter | None = None) -> int:
        return self.base.count(tenant_filter(self.tenant, flt))

    def scroll(
        self,
        flt: Filter | None = None,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        page, after = self.base.scroll(tenant_filter(self.tenant, flt), limit, offset, with_vectors)
        return [self._read(point) for point in page], after

    def candidates(
        self, queries: Mapping[str, QueryVector], limit: int, flt: Filter | None = None
    ) -> Candidates:
        mine = self.terms.encode_vectors(queries)
        return self.base.candidates(mine, limit, tenant_filter(self.tenant, flt))

    def _read(self, point: StoredPoint) -> StoredPoint:
        if not point.vectors:
            return point
        return replace(point, vectors=self.terms.decode_vectors(point.vectors))

    def __getattr__(self, name: str) -> Any:
        """Anything else the engines grow (new query kinds) is refused, not passed through
        unfiltered."""
        raise AttributeError(
            f"TenantStore has no {name!r}: add it to rag/tenancy.py with the tenant filter"
        )

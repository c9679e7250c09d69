"""Tenants inside one collection: every point carries ``rag.payload.TENANT``, and a tenant sees
and writes only its own points through a :class:`TenantStore`.

Why a payload field and not a collection per tenant: one collection keeps one set of shards,
one HNSW graph build, one lock file and one open Edge shard however many tenants there are;
Qdrant's keyword index with ``is_tenant`` groups each tenant's points on disk so its searches
stay as fast as in a collection of its own. A collection per tenant would multiply open shards,
memory and start-up time by the number of tenants, and creating one would be an admin step.

Example::

    store = TenantStore(services.store, "acme")
    store.upsert(points)          # payload["tenant"] = "acme" on each point
    store.count()                 # acme's points only
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from rag import payload as keys
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


class TenantStore:
    """A :class:`VectorStore` view of ``base`` restricted to one tenant's points.

    ``collection`` is the id namespace (:func:`id_namespace`); ``base.collection`` is the real
    collection. Closing the view leaves ``base`` open (its owner closes it).
    """

    def __init__(self, base: VectorStore, tenant: str) -> None:
        if not tenant:
            raise ValueError("a tenant needs a name")
        self.base = base
        self.tenant = tenant
        self.collection = id_namespace(base.collection, tenant)

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
            replace(point, payload={**point.payload, keys.TENANT: self.tenant}) for point in points
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
        return [point for point in found if point.payload.get(keys.TENANT) == self.tenant]

    def count(self, flt: Filter | None = None) -> int:
        return self.base.count(tenant_filter(self.tenant, flt))

    def scroll(
        self,
        flt: Filter | None = None,
        limit: int = 256,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        return self.base.scroll(tenant_filter(self.tenant, flt), limit, offset, with_vectors)

    def candidates(
        self, queries: Mapping[str, QueryVector], limit: int, flt: Filter | None = None
    ) -> Candidates:
        return self.base.candidates(queries, limit, tenant_filter(self.tenant, flt))

    def __getattr__(self, name: str) -> Any:
        """Anything else the engines grow (new query kinds) is refused, not passed through
        unfiltered."""
        raise AttributeError(
            f"TenantStore has no {name!r}: add it to rag/tenancy.py with the tenant filter"
        )

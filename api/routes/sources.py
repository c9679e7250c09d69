"""``/v1/sources``: sources that stay in sync (watched folders, S3 buckets, web sites); admins
only. Each sync is a job on the ingest queue."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.auth import Principal, sees_job
from api.deps import PrincipalDep, ServicesDep
from api.jobs import QueueDep
from api.schemas.sources import (
    SourceIn,
    SourceListOut,
    SourceOut,
    SourceRemovedOut,
    SyncAcceptedOut,
)
from ingest.sync.manage import add_source, remove_source
from ingest.sync.model import SourceRecord
from ingest.sync.registry import SourceRegistry
from ingest.sync.scheduler import submit_sync
from rag.errors import NotFoundError
from rag.services import Services

router = APIRouter(prefix="/v1/sources", tags=["sources"])


def _registry(services: Services) -> SourceRegistry:
    return SourceRegistry.for_settings(services.settings)


def _visible(registry: SourceRegistry, name: str, principal: Principal) -> SourceRecord:
    record = registry.get(name)
    if not sees_job(principal, record.config.tenant):
        raise NotFoundError(f"no source {name!r}; `mmrag sources list` shows the known ones")
    return record


def _out(record: SourceRecord) -> SourceOut:
    return SourceOut(config=record.config, state=record.state)


@router.get("")
def list_sources(services: ServicesDep, principal: PrincipalDep) -> SourceListOut:
    """The sources the caller's key sees, with their state. Admins only."""
    records = _registry(services).records()
    return SourceListOut(sources=[_out(r) for r in records if sees_job(principal, r.config.tenant)])


@router.post("", status_code=201)
def create_source(body: SourceIn, services: ServicesDep, principal: PrincipalDep) -> SourceOut:
    """Add a source (a folder must lie under ``MMRAG_INGEST__ROOTS``); its first sync is
    queued by its schedule or watcher, or by ``POST /v1/sources/{name}/sync``. Admins only."""
    config = body.model_copy(
        update={"tenant": principal.tenant if principal.tenant is not None else body.tenant}
    )
    return _out(add_source(_registry(services), services.settings, config))


@router.get("/{name}")
def get_source(name: str, services: ServicesDep, principal: PrincipalDep) -> SourceOut:
    """One source and its state. Admins only."""
    return _out(_visible(_registry(services), name, principal))


@router.delete("/{name}")
def delete_source(
    name: str,
    services: ServicesDep,
    principal: PrincipalDep,
    purge: bool = Query(default=False, description="Delete the source's points too."),
) -> SourceRemovedOut:
    """Remove a source (its points stay unless ``purge``). Admins only."""
    registry = _registry(services)
    _visible(registry, name, principal)
    deleted = remove_source(registry, services, name, purge)
    return SourceRemovedOut(source=name, points_deleted=deleted)


@router.post("/{name}/sync", status_code=202)
def sync_source(
    name: str, request: Request, services: ServicesDep, queue: QueueDep, principal: PrincipalDep
) -> JSONResponse:
    """Queue a sync of the source now (202 with the job id; a sync still queued is reused).
    Admins only."""
    registry = _registry(services)
    _visible(registry, name, principal)
    job_id = submit_sync(queue, registry, name)
    body = SyncAcceptedOut(job_id=job_id, source=name)
    return JSONResponse(body.model_dump(), status_code=202)


__all__ = ["router"]

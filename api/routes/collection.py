"""``/v1/admin/collection/defaults``: the served collection's own search defaults (fusion,
weights, signals), which searches that name none use before the global settings. Admins of
every tenant only: the defaults are the collection's, shared by all its tenants."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from api.deps import PrincipalDep
from api.schemas.collection import CollectionDefaultsIn, CollectionDefaultsOut
from rag.retrieval.collection_defaults import (
    NO_DEFAULTS,
    CollectionDefaults,
    load_defaults,
    parse_defaults,
    save_defaults,
)
from rag.services import Services

router = APIRouter(prefix="/v1/admin/collection", tags=["admin"])

PATH = "/defaults"


def _owner(request: Request, principal: PrincipalDep) -> Services:
    """The app's services, for a key of every tenant; 403 for a tenant-bound key."""
    if principal.tenant is not None:
        raise HTTPException(
            status_code=403,
            detail="a collection's search defaults apply to every tenant in it: use an admin "
            "key of every tenant ('*')",
        )
    services: Services = request.app.state.services
    return services


def _out(services: Services, defaults: CollectionDefaults) -> CollectionDefaultsOut:
    return CollectionDefaultsOut(
        collection=services.settings.store.collection, **defaults.as_dict()
    )


@router.get(PATH)
def show_defaults(request: Request, principal: PrincipalDep) -> CollectionDefaultsOut:
    """The collection's search defaults (null: the global setting applies)."""
    services = _owner(request, principal)
    settings = services.settings
    return _out(services, load_defaults(settings.files_dir, settings.store.collection))


@router.put(PATH)
def set_defaults(
    body: CollectionDefaultsIn, request: Request, principal: PrincipalDep
) -> CollectionDefaultsOut:
    """Replace the collection's search defaults; the next search uses them. A request that
    names fusion, weights or signals still overrides them."""
    services = _owner(request, principal)
    settings = services.settings
    defaults = parse_defaults(body.fusion, body.weights, body.signals)
    save_defaults(settings.files_dir, settings.store.collection, defaults)
    return _out(services, defaults)


@router.delete(PATH)
def clear_defaults(request: Request, principal: PrincipalDep) -> CollectionDefaultsOut:
    """Remove the collection's search defaults: searches follow the global settings again."""
    services = _owner(request, principal)
    save_defaults(services.settings.files_dir, services.settings.store.collection, NO_DEFAULTS)
    return _out(services, NO_DEFAULTS)

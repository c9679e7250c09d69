"""``GET /health`` (the process answers) and ``GET /ready`` (store, embedder and LLM can serve)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import Role
from api.schemas.health import ComponentOut, HealthOut, ReadyOut
from api.version import VERSION
from rag.services import Services

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> HealthOut:
    """Liveness: 200 while the process serves requests. Needs no API key."""
    return HealthOut(version=VERSION)


@router.get("/ready", responses={503: {"model": ReadyOut}}, response_model_exclude_none=True)
def ready(request: Request) -> JSONResponse:
    """Readiness: ``status`` (503 when a component cannot serve). Needs no API key; each
    component's detail is shown to admins only (to everyone while API keys are off)."""
    services: Services = request.app.state.services
    checks: dict[str, Callable[[Services], str]] = {
        "store": _store,
        "embedder": _embedder,
        "llm": _llm,
    }
    components = {name: _run(check, services, name) for name, check in checks.items()}
    ok = all(part.status == "ok" for part in components.values())
    body = ReadyOut(status="ready" if ok else "not_ready")
    if _may_see_details(request):
        body.components = components
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ok else 503)


def _may_see_details(request: Request) -> bool:
    keyring = request.app.state.keyring
    if not keyring.enabled:
        return True
    header = request.headers.get("x-api-key") or ""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = header or (token.strip() if scheme.lower() == "bearer" else "")
    principal = keyring.lookup(given) if given else None
    return principal is not None and principal.may(Role.ADMIN)


def _run(check: Callable[[Services], str], services: Services, name: str) -> ComponentOut:
    try:
        return ComponentOut(status="ok", detail=check(services))
    except Exception as exc:
        log.warning("readiness: %s: %s", name, exc)
        return ComponentOut(status="error", detail=str(exc) or type(exc).__name__)


def _store(services: Services) -> str:
    count = services.store.count()
    return f"collection {services.store.collection!r}, {count} points"


def _embedder(services: Services) -> str:
    embedder = services.embedder
    embedder.warm_up()
    return f"{embedder.model_id}, dim {embedder.dim}"


def _llm(services: Services) -> str:
    services.chat_model.check()
    info = llm_info(services)
    fallback = f" (fallback for {info['preferred']})" if info["fallback"] else ""
    return f"{info['backend']}: {info['model']}{fallback}"


def llm_info(services: Services) -> dict[str, object]:
    """The LLM that answers now: backend, model, vision, and (``auto``) the preferred backend
    and whether this is a fallback for it, with why (for ``/ready``'s details)."""
    return services.chat_model.info().as_dict()

"""The FastAPI app: :func:`create_app` builds it from settings; ``app`` builds it on first use.

Run it with ``mmrag serve``, ``uvicorn api.main:app`` or ``uvicorn --factory api.main:create_app``.
Importing this module reads no settings and loads no model.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import KeyRing
from api.deps import Authorized
from api.errors import install_error_handlers
from api.gate import Origins, RequestGate
from api.lifespan import build_lifespan
from api.limits import BodyLimitMiddleware
from api.mcp.http import install_mcp
from api.metrics import install_metrics
from api.routes import (
    admin,
    audit,
    chat,
    classify,
    collection,
    documents,
    embed,
    health,
    ingest,
    items,
    jobs,
    library,
    moderate,
    ollama_compat,
    openai_compat,
    search,
    sources,
)
from api.schemas.common import ERROR_RESPONSES
from api.tracing import install_tracing
from api.version import VERSION
from api.web import install_web
from rag.config import Settings, load_settings
from rag.services import Services

PUBLIC_ROUTERS: list[APIRouter] = [health.router]
"""Routers served without an API key."""

ROUTERS: list[APIRouter] = [
    embed.router,
    search.router,
    chat.router,
    ingest.router,
    jobs.router,
    items.router,
    documents.router,
    library.router,
    openai_compat.router,
    ollama_compat.router,
    classify.router,
    moderate.router,
    admin.router,
    audit.router,
    sources.router,
    collection.router,
]
"""Every other router; each route on them needs an API key when keys are configured."""


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The mmrag API for ``settings`` (default: read from the environment).

    Pass ``services`` to share already built parts (tests, an embedding host); the app then
    leaves closing them to the caller.
    """
    owns_services = services is None
    if services is None:
        services = Services(settings or load_settings())
    limits = services.settings.api
    app = FastAPI(
        title="mmrag",
        version=VERSION,
        summary="Self-hosted multimodal RAG: search images and text, ask grounded questions.",
        lifespan=build_lifespan(owns_services),
        responses=ERROR_RESPONSES,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.keyring = keyring = KeyRing.for_settings(services.settings)
    install_error_handlers(app)
    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    for router in ROUTERS:
        app.include_router(router, dependencies=[Authorized])
    mcp = install_mcp(app)  # /mcp: the MCP server, the same keys
    install_web(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_upload_bytes)
    protected = [route for router in ROUTERS for route in router.routes] + [mcp]
    origins = Origins.for_settings(services.settings)
    app.add_middleware(RequestGate, keyring=keyring, origins=origins, protected=protected)
    if limits.cors_origins:  # outermost: the gate's refusals carry CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=limits.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    install_tracing(app)  # inside the request id's middleware: its span carries the id
    install_metrics(app)  # outermost: every request is counted and gets an id, refusals too
    return app


class LazyApp:
    """An ASGI app that builds the real one with :func:`create_app` on its first call."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


app = LazyApp()
"""``uvicorn api.main:app``: settings are read and models loaded when the server starts."""

"""``/mcp`` on the API: the MCP server over streamable HTTP (stateless, JSON responses).

The API key is checked as on every other route (``Authorization: Bearer <key>`` or
``X-API-Key``; 401 without a valid one) and the calls run as its tenant and role.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api.auth import KeyRing, Principal
from api.deps import authorize, given_key
from api.errors import CODE_BY_STATUS, error_response
from api.jobs import job_queue
from api.mcp.server import McpHost, build_server

PATH = "/mcp"

_principal: ContextVar[Principal] = ContextVar("mcp_principal")
"""The caller of the request being served (set by :class:`McpEndpoint`)."""


class McpEndpoint:
    """The ASGI app of ``/mcp``: the key checked (:func:`api.deps.authorize`, as the request
    gate checks it before any route), then the SDK's transport, as that key's principal."""

    def __init__(self, keyring: KeyRing, manager: StreamableHTTPSessionManager) -> None:
        self.keyring = keyring
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            key = given_key(Headers(scope=scope))
            principal = authorize(self.keyring, key, scope["method"], PATH)
        except HTTPException as exc:
            code = CODE_BY_STATUS.get(exc.status_code, "http_error")
            response = error_response(exc.status_code, code, str(exc.detail), exc.headers)
            await response(scope, receive, send)
            return
        token = _principal.set(principal)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            _principal.reset(token)


def install_mcp(app: FastAPI) -> Route:
    """Serve the MCP server at ``/mcp`` of ``app`` (:func:`mcp_running` runs its transport in
    the app's lifespan); the route, for the request gate's list of routes that need a key."""
    services = app.state.services
    host = McpHost(services, lambda: job_queue(app), _principal.get)
    manager = StreamableHTTPSessionManager(
        app=build_server(host),
        json_response=True,
        stateless=True,
        max_request_body_size=services.settings.api.max_upload_bytes,
    )
    app.state.mcp = manager
    route = Route(PATH, McpEndpoint(app.state.keyring, manager), methods=["GET", "POST", "DELETE"])
    app.router.routes.append(route)
    return route


def mcp_running(app: FastAPI) -> AbstractAsyncContextManager[Any]:
    """The MCP transport's task group, for the app's lifespan (nothing when MCP is not on)."""
    manager: StreamableHTTPSessionManager | None = getattr(app.state, "mcp", None)
    return manager.run() if manager is not None else nullcontext()

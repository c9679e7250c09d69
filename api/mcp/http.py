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
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api.auth import EVERYONE, KeyRing, Principal
from api.errors import error_response
from api.jobs import job_queue
from api.mcp.server import McpHost, build_server

PATH = "/mcp"
UNAUTHORIZED = (
    "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
)

_principal: ContextVar[Principal] = ContextVar("mcp_principal")
"""The caller of the request being served (set by :class:`McpEndpoint`)."""


class McpEndpoint:
    """The ASGI app of ``/mcp``: the key checked, then the SDK's transport, as that principal."""

    def __init__(self, keyring: KeyRing, manager: StreamableHTTPSessionManager) -> None:
        self.keyring = keyring
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = self.principal(Headers(scope=scope))
        if principal is None:
            response = error_response(
                401, "unauthorized", UNAUTHORIZED, {"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        token = _principal.set(principal)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            _principal.reset(token)

    def principal(self, headers: Headers) -> Principal | None:
        """The key's principal (every caller is :data:`EVERYONE` when keys are off)."""
        if not self.keyring.enabled:
            return EVERYONE
        given = headers.get("x-api-key") or _bearer(headers.get("authorization", ""))
        return self.keyring.lookup(given) if given else None


def install_mcp(app: FastAPI) -> None:
    """Serve the MCP server at ``/mcp`` of ``app``; :func:`mcp_running` runs its transport."""
    services = app.state.services
    host = McpHost(services, lambda: job_queue(app), _principal.get)
    manager = StreamableHTTPSessionManager(
        app=build_server(host),
        json_response=True,
        stateless=True,
        max_request_body_size=services.settings.api.max_upload_bytes,
    )
    app.state.mcp = manager
    endpoint = McpEndpoint(app.state.keyring, manager)
    app.router.routes.append(Route(PATH, endpoint, methods=["GET", "POST", "DELETE"]))


def mcp_running(app: FastAPI) -> AbstractAsyncContextManager[Any]:
    """The MCP transport's task group, for the app's lifespan (nothing when MCP is not on)."""
    manager: StreamableHTTPSessionManager | None = getattr(app.state, "mcp", None)
    return manager.run() if manager is not None else nullcontext()


def _bearer(value: str) -> str:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""

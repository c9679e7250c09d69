"""Route dependencies: the app's :class:`Services`, its settings, the API-key check."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import EVERYONE, NOBODY, KeyRing, Principal, Role
from rag.config import Settings
from rag.services import Services

_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


def get_services(request: Request) -> Services:
    """The services the caller sees: the app's, as its tenant sees them (models shared)."""
    services: Services = request.app.state.services
    return services.for_tenant(principal_of(request).tenant)


def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def key_is_valid(given: str, keys: list[str]) -> bool:
    """Whether ``given`` is one of ``keys``, comparing every key in constant time."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def get_keyring(request: Request) -> KeyRing:
    """The app's API keys (built once by :func:`api.main.create_app`)."""
    return request.app.state.keyring


WRITE_ROUTES = {("POST", "/v1/ingest"), ("POST", "/v1/jobs/{job_id}/retry")}
"""Routes that change data although their method is POST (DELETE, PUT, PATCH always do)."""
ADMIN_ROUTES = {("GET", "/v1/stats"), ("POST", "/v1/admin/backup")}
"""Routes for admins only."""
ADMIN_ROUTES |= {("POST", "/v1/audit/bias"), ("GET", "/v1/audit/bias")}
ADMIN_ROUTES |= {
    ("GET", "/v1/sources"),
    ("POST", "/v1/sources"),
    ("GET", "/v1/sources/{name}"),
    ("DELETE", "/v1/sources/{name}"),
    ("POST", "/v1/sources/{name}/sync"),
}
ADMIN_ROUTES |= {(m, "/v1/admin/collection/defaults") for m in ("GET", "PUT", "DELETE")}


def required_role(method: str, path: str) -> Role:
    """The least role that may call ``method path`` (the route's path template)."""
    if (method, path) in ADMIN_ROUTES:
        return Role.ADMIN
    if method in ("DELETE", "PUT", "PATCH") or (method, path) in WRITE_ROUTES:
        return Role.WRITE
    return Role.READ


def require_api_key(
    request: Request,
    keyring: Annotated[KeyRing, Depends(get_keyring)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """The caller's :class:`Principal`: 401 without a valid key (``Authorization: Bearer`` or
    ``X-API-Key``), 403 when its role may not call this route.

    :class:`api.gate.RequestGate` checks this before the body is read and leaves the principal
    in the request's state; this dependency takes it from there (and declares the schemes in
    the OpenAPI document). No keys configured turns the check off (every caller is
    :data:`api.auth.EVERYONE`).
    """
    found = getattr(request.state, "principal", None)
    if found is None:
        given = header_key or (bearer.credentials if bearer else "")
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        found = authorize(keyring, given, request.method, path)
        request.state.principal = found
    return found


def authorize(keyring: KeyRing, given: str, method: str, path: str) -> Principal:
    """The principal of key ``given`` if its role may call ``method path`` (the route's path
    template); ``HTTPException`` 401 (no such key) or 403 (role too low) otherwise."""
    if not keyring.enabled:
        principal = EVERYONE
    else:
        found = keyring.lookup(given) if given else None
        if found is None:
            raise HTTPException(
                status_code=401,
                detail="missing or invalid API key: send 'Authorization: Bearer <key>' "
                "or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = found
    needed = required_role(method, path)
    if not principal.may(needed):
        raise HTTPException(
            status_code=403,
            detail=f"this key's role ({principal.role.name.lower()}) may not call "
            f"{method} {path}: it needs {needed.name.lower()}",
        )
    return principal


def given_key(headers: Mapping[str, str]) -> str:
    """The key a request carries: ``X-API-Key``, else ``Authorization: Bearer``'s token."""
    header_key = headers.get("x-api-key")
    if header_key:
        return header_key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


Authorized = Depends(require_api_key)
"""Add to a router's ``dependencies`` to protect every route on it."""

PrincipalDep = Annotated[Principal, Depends(require_api_key)]
"""The caller (authenticated, role checked); FastAPI runs the check once per request."""


def principal_of(request: Request) -> Principal:
    """The caller as :func:`require_api_key` found it; on public routes: :data:`EVERYONE` when
    keys are off, else a reader of no tenant's data."""
    found = getattr(request.state, "principal", None)
    if found is not None:
        return found
    if not request.app.state.keyring.enabled:
        return EVERYONE
    return NOBODY

"""Route dependencies: the app's :class:`Services`, its settings, the API-key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from rag.config import Settings
from rag.services import Services

_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


def get_services(request: Request) -> Services:
    """The process-wide services the app was built with."""
    return request.app.state.services


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


def require_api_key(
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """401 unless the request carries a configured key (``Authorization: Bearer`` or ``X-API-Key``).

    No keys configured (``MMRAG_API_KEYS`` empty) turns the check off.
    """
    if not settings.api_keys:
        return
    given = header_key or (bearer.credentials if bearer else "")
    if not given or not key_is_valid(given, settings.api_keys):
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key: send 'Authorization: Bearer <key>' "
            "or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = Depends(require_api_key)
"""Add to a router's ``dependencies`` to protect every route on it."""

"""The one place that turns errors into HTTP responses: ``{"error": code, "message": "..."}``.

``rag.errors`` classes get their status here; routing errors (404, 405), auth (401), the upload cap
(413) and validation errors (422) get the same JSON shape.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import (
    CollectionMismatchError,
    ConfigError,
    ConflictError,
    EmbeddingTimeoutError,
    EmbeddingUnavailableError,
    InvalidInputError,
    LLMBusyError,
    LLMTimeoutError,
    LLMUnavailableError,
    MmragError,
    ModelUnavailableError,
    NotFoundError,
    StoreError,
    TooManyPixelsError,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[MmragError], int] = {
    InvalidInputError: 400,
    TooManyPixelsError: 413,
    NotFoundError: 404,
    ConflictError: 409,
    LLMBusyError: 503,
    LLMUnavailableError: 503,
    LLMTimeoutError: 504,
    EmbeddingTimeoutError: 504,
    ModelUnavailableError: 503,
    CollectionMismatchError: 500,
    StoreError: 503,
    ConfigError: 500,
}
"""Status of each error class; a subclass not listed takes its nearest listed base's status."""

CODE_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}


def status_for(exc: MmragError) -> int:
    """The HTTP status of an mmrag error (500 for one no class in its ancestry is mapped to)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": code, "message": message, **extra}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def mmrag_error_response(exc: MmragError) -> JSONResponse:
    """The response for an mmrag error, with ``Retry-After`` when the LLM is busy or the
    embedding server is busy or down."""
    status = status_for(exc)
    headers = None
    if isinstance(exc, LLMBusyError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after or 1)))}
    if isinstance(exc, EmbeddingUnavailableError) and exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if status >= 500:
        log.warning("%s: %s", exc.code, exc)
    return error_response(status, exc.code, str(exc) or exc.code, headers)


def validation_message(errors: Sequence[Any]) -> str:
    """One readable line per problem, naming the field: ``body.top_k: Input should be ...``."""
    parts = []
    for err in errors:
        loc = ".".join(str(part) for part in err.get("loc", ()))
        msg = str(err.get("msg", "invalid value"))
        detail = (err.get("ctx") or {}).get("error")
        if err.get("type") == "json_invalid" and detail:
            msg = f"{msg} ({detail})"
        if err.get("type") == "extra_forbidden":
            msg = "unknown field: check its spelling (the fields are listed at /docs)"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


async def _mmrag_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MmragError)
    return mmrag_error_response(exc)


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = CODE_BY_STATUS.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", validation_message(exc.errors()))


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(MmragError, _mmrag_handler)
    app.add_exception_handler(HTTPException, _http_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(Exception, _unexpected_handler)

"""Schemas every resource shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Base of every request body mmrag defines: an unknown (misspelled) field is a 422 that
    names it, not an option silently dropped. The OpenAI- and Ollama-compatible bodies do not
    use it: their clients send fields of those APIs that mmrag has no use for."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error response: a stable code and a message that says what to do."""

    error: str
    message: str


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 413, 422, 503, 504)
}
"""``responses=`` of routers, so the OpenAPI document shows the error shape."""

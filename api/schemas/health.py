"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ComponentOut(BaseModel):
    """One part the service needs: ``ok`` with a detail (model name, size), or ``error`` and why."""

    status: Literal["ok", "error"]
    detail: str = ""


class ReadyOut(BaseModel):
    """``components`` only for admins (or while API keys are off)."""

    status: Literal["ready", "not_ready"]
    components: dict[str, ComponentOut] | None = None

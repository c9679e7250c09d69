"""Start-up and shut-down of the app: warm the models once, run the embedded ingest worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from api.jobs import start_sources, start_worker
from api.mcp.http import mcp_running
from api.metrics import observe_audit
from rag.audit.monitor import Monitor
from rag.services import Services

log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def warm_up(services: Services) -> dict[str, str]:
    """Load every model now; log and return the parts that failed and why.

    The app still starts when a part fails: ``/health`` answers, ``/ready`` says 503 and why.
    """
    steps: dict[str, Callable[[], Any]] = {
        "embedder": lambda: services.embedder.warm_up(),
        "passage": lambda: (
            None if services.passage_encoder is None else services.passage_encoder.warm_up()
        ),
        "store": lambda: services.store,
        "reranker": lambda: None if services.reranker is None else services.reranker.warm_up(),
        "llm": lambda: services.chat_model.warm_up(),
    }
    problems: dict[str, str] = {}
    for name, step in steps.items():
        try:
            step()
        except Exception as exc:
            problems[name] = str(exc) or type(exc).__name__
            log.error("%s is not ready: %s", name, problems[name])
    return problems


def build_lifespan(owns_services: bool) -> Lifespan:
    """The lifespan of an app; it closes the services at shut-down when it built them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services: Services = app.state.services
        await anyio.to_thread.run_sync(warm_up, services)
        worker = await anyio.to_thread.run_sync(start_worker, app)
        app.state.worker = worker
        monitor = start_audit_monitor(services)
        scheduler = await anyio.to_thread.run_sync(start_sources, app)
        try:
            async with mcp_running(app):
                yield
        finally:
            if monitor is not None:
                await anyio.to_thread.run_sync(monitor.stop)
            if scheduler is not None:
                await anyio.to_thread.run_sync(scheduler.stop)
            if worker is not None:
                await anyio.to_thread.run_sync(worker.stop)
            if owns_services:
                await anyio.to_thread.run_sync(services.close)

    return lifespan


def start_audit_monitor(services: Services) -> Monitor | None:
    """Scheduled bias monitoring (``MMRAG_AUDIT__INTERVAL_S`` > 0), its records exported as
    metrics; ``None`` when it is off."""
    if services.settings.audit.interval_s <= 0:
        return None
    monitor = Monitor(services, services.settings.audit, on_record=observe_audit)
    monitor.start()
    return monitor

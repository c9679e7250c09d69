"""``mmrag mcp``: the MCP server over stdio, for clients that start it as a subprocess (Claude
Desktop, Cursor, VS Code). It runs the models, the store and an ingest worker in its own process,
like ``mmrag serve``; the caller is the key in ``MMRAG_API_KEY`` when API keys are configured.
"""

from __future__ import annotations

import threading

import anyio
from mcp.server.stdio import stdio_server

from api.auth import EVERYONE, KeyRing, Principal
from api.lifespan import warm_up
from api.mcp.server import McpHost, build_server
from ingest.queue import make_worker, open_jobs
from rag.errors import ConfigError
from rag.services import Services

KEY_VARIABLE = "MMRAG_API_KEY"


def stdio_principal(keyring: KeyRing, key: str | None) -> Principal:
    """The principal of ``key`` (``MMRAG_API_KEY``); every caller is :data:`EVERYONE` when no
    keys are configured. A missing or unknown key is refused as ``/mcp`` refuses it."""
    if not keyring.enabled:
        return EVERYONE
    found = keyring.lookup(key) if key else None
    if found is None:
        raise ConfigError(
            f"missing or invalid API key: set {KEY_VARIABLE} to a key of MMRAG_API_KEYS or "
            "MMRAG_API_KEYS_FILE"
        )
    return found


def serve_stdio(services: Services, principal: Principal) -> None:
    """Serve MCP on stdin/stdout until the client closes them; the models warm up meanwhile in a
    thread (the client's handshake need not wait for them), and the ingest worker runs (unless
    ``MMRAG_API__EMBEDDED_WORKER`` is off). The store is opened first: a data folder another
    process holds fails here, with its message."""
    services.store  # noqa: B018 (opened now, so a held data folder fails at start)
    threading.Thread(target=warm_up, args=(services,), name="mcp-warm-up", daemon=True).start()
    jobs = open_jobs(services.settings)
    worker = make_worker(services, jobs) if services.settings.api.embedded_worker else None
    if worker is not None:
        worker.start()
    server = build_server(McpHost(services, lambda: jobs, lambda: principal))

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        anyio.run(run)
    finally:
        if worker is not None:
            worker.stop()

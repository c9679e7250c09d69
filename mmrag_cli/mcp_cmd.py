"""``mmrag mcp``: the MCP server over stdio (search, ask, items, documents, ingest as tools)."""

from __future__ import annotations

import logging
import os
import sys

import typer

from mmrag_cli import common


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)


def mcp() -> None:
    """Serve MCP over stdio for Claude Desktop, Cursor, VS Code and other MCP clients.

    The client starts this command; the key in MMRAG_API_KEY picks the tenant and role when
    API keys are configured. Logs go to stderr; stdout carries the protocol only. See docs/mcp.md.
    """
    from api.auth import KeyRing
    from api.mcp.stdio import KEY_VARIABLE, serve_stdio, stdio_principal
    from rag.services import Services

    settings = common.settings_from_cli()
    logging.getLogger().handlers[:] = [logging.StreamHandler(sys.stderr)]
    with common.cli_errors():
        principal = stdio_principal(KeyRing.for_settings(settings), os.environ.get(KEY_VARIABLE))
        services = Services(settings)
        try:
            serve_stdio(services, principal)
        finally:
            services.close()

"""``mmrag serve``: the HTTP API (and, in embedded mode, the ingest worker) on one port."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from mmrag_cli import common


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default: MMRAG_API__HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on (default: MMRAG_API__PORT)."),
    ] = None,
) -> None:
    """Serve the API: search, chat, ingest, and OpenAI- and Ollama-compatible endpoints.

    Models load once at start-up; GET /ready says when every part can serve.
    """
    import uvicorn

    from api.auth import exposure_warning
    from api.main import create_app
    from mmrag_cli.remote import announce

    settings = common.settings_from_cli(**{"api.host": host, "api.port": port})
    with common.cli_errors():
        app = create_app(settings)
    warning = exposure_warning(settings.api.host, app.state.keyring)
    if warning:
        logging.getLogger("mmrag").warning(warning)
        typer.secho(f"WARNING: {warning}", fg="red", bold=True, err=True)
    with announce(settings):  # `mmrag ingest` on this data folder sends its jobs here
        uvicorn.run(
            app,
            host=settings.api.host,
            port=settings.api.port,
            log_level=settings.log_level.lower(),
            # JSON lines: uvicorn's loggers go through the root logger's JSON handler
            **({"log_config": None} if settings.log.format == "json" else {}),
            timeout_graceful_shutdown=30,
        )

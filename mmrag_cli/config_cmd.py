"""``mmrag config``: show the effective settings or every variable with its default."""

from __future__ import annotations

import typer

from mmrag_cli import common


def register(app: typer.Typer) -> None:
    app.command("config")(config)


def config(
    env_example: bool = typer.Option(
        False, "--env-example", help="Print every MMRAG_ variable with its default (.env.example)."
    ),
) -> None:
    """Print the settings in effect (secrets masked), or the .env.example text."""
    from rag.config import env_example as render_env_example

    if env_example:
        typer.echo(render_env_example(), nl=False)
        return
    settings = common.settings_from_cli()
    data = settings.model_dump(mode="json")
    data["api_keys"] = ["***"] * len(settings.api_keys)
    if data["store"].get("api_key"):
        data["store"]["api_key"] = "***"
    if data["llm"].get("api_key"):
        data["llm"]["api_key"] = "***"
    if data["passage"].get("api_key"):
        data["passage"]["api_key"] = "***"
    common.print_json(data)

"""The ``mmrag`` command. Each sub-command lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from mmrag_cli import common

app = typer.Typer(
    name="mmrag",
    help="Self-hosted multimodal RAG: ingest images with text, search, and ask.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Self-hosted multimodal RAG: ingest images with text, search, and ask."""


# Sub-command modules, each with `register(app)`. Heavy imports stay inside the commands.
for module in common.command_modules():
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

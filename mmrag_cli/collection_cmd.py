"""``mmrag collection defaults show|set|clear``: a collection's own search defaults (fusion,
weights, signals), used by searches that name none, before the global settings."""

from __future__ import annotations

from typing import Annotated

import typer

from mmrag_cli import common

collection_app = typer.Typer(help="A collection's settings.", no_args_is_help=True)
defaults_app = typer.Typer(
    help="A collection's own search defaults (fusion, weights, signals).", no_args_is_help=True
)
collection_app.add_typer(defaults_app, name="defaults")

CollectionOption = Annotated[
    str | None, typer.Option(help="The collection (default: MMRAG_STORE__COLLECTION).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(collection_app, name="collection")


@defaults_app.command("show")
def show(collection: CollectionOption = None) -> None:
    """Print the collection's defaults as JSON (null: the global setting applies)."""
    from rag.retrieval.collection_defaults import load_defaults

    settings = common.settings_from_cli(**{"store.collection": collection})
    with common.cli_errors():
        found = load_defaults(settings.files_dir, settings.store.collection)
    common.print_json({"collection": settings.store.collection, **found.as_dict()})


@defaults_app.command("set")
def set_defaults(
    fusion: Annotated[str | None, typer.Option(help="rrf, dbsf or weighted.")] = None,
    weights: Annotated[
        str | None, typer.Option(help="Signal weights, e.g. passage=0.5,lexical=0.25.")
    ] = None,
    signals: Annotated[str | None, typer.Option(help="Signals, e.g. passage,lexical.")] = None,
    collection: CollectionOption = None,
) -> None:
    """Set the parts given (the others keep their stored value); searches pick them up at once."""
    from dataclasses import replace

    from rag.retrieval.collection_defaults import load_defaults, parse_defaults, save_defaults

    if fusion is None and weights is None and signals is None:
        raise typer.BadParameter("give --fusion, --weights and/or --signals")
    settings = common.settings_from_cli(**{"store.collection": collection})
    with common.cli_errors():
        given = parse_defaults(fusion, weights, signals)
        name = settings.store.collection
        stored = load_defaults(settings.files_dir, name)
        changes = {k: v for k, v in vars(given).items() if v is not None}
        merged = replace(stored, **changes)
        save_defaults(settings.files_dir, name, merged)
    common.print_json({"collection": name, **merged.as_dict()})


@defaults_app.command("clear")
def clear(collection: CollectionOption = None) -> None:
    """Remove the collection's defaults: its searches follow the global settings again."""
    from rag.retrieval.collection_defaults import NO_DEFAULTS, save_defaults

    settings = common.settings_from_cli(**{"store.collection": collection})
    with common.cli_errors():
        save_defaults(settings.files_dir, settings.store.collection, NO_DEFAULTS)
    common.print_json({"collection": settings.store.collection, **NO_DEFAULTS.as_dict()})

"""``mmrag quality``: the embedding quality of an ingested collection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from rag.config import Settings


def register(app: typer.Typer) -> None:
    app.command("quality")(quality)


def quality(
    collection: Annotated[str | None, typer.Option(help="Collection to inspect.")] = None,
    png: Annotated[
        Path | None, typer.Option(help="Where to write the 2-D projection (default: data dir).")
    ] = None,
    limit: Annotated[int, typer.Option(min=2, help="Items to read at most.")] = 5000,
    threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Cosine from which two items are near-duplicates."),
    ] = 0.98,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Embedding quality of an ingested collection: a table of figures and a PNG projection."""
    from rag.quality import plot_projection, quality_report

    settings = common.settings_from_cli(**{"store.collection": collection})
    with common.cli_errors():
        items = _collection_vectors(settings, limit)
        report = quality_report(items, duplicate_threshold=threshold)
        target = png or settings.data_dir / f"quality-{settings.store.collection}.png"
        plot_projection(items, target)
    if json_output:
        common.print_json({**report.to_dict(), "png": str(target)})
        return
    _print_table(f"Embedding quality: {settings.store.collection}", report.rows())
    for dup in report.near_duplicates[:5]:
        typer.echo(f"near-duplicate {dup.modality}: {dup.a} ~ {dup.b} (cosine {dup.cosine:.3f})")
    typer.echo(f"projection written to {target}")


def _collection_vectors(settings: Settings, limit: int) -> list[Any]:
    from rag.errors import InvalidInputError, NotFoundError
    from rag.quality import collect_vectors
    from rag.store import open_store

    store = open_store(settings.store, settings.data_dir)
    try:
        if store.collection_dim() is None:
            raise NotFoundError(f"collection {store.collection!r} does not exist; ingest first")
        items = collect_vectors(store, limit)
    finally:
        store.close()
    if len(items) < 2:
        raise InvalidInputError(f"collection {settings.store.collection!r} has fewer than 2 items")
    return items


def _print_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)

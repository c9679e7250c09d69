"""``mmrag ingest PATH...``: ingest folders and manifests into the collection, then report."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from ingest.report import IngestReport


class Policy(StrEnum):
    skip = "skip"
    overwrite = "overwrite"


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Folders and manifest files (.jsonl, .csv).")],
    collection: Annotated[
        str | None, typer.Option(help="Collection to write (default MMRAG_STORE__COLLECTION).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Items per model batch and upsert.")
    ] = None,
    policy: Annotated[
        Policy | None,
        typer.Option(help="skip: leave unchanged items alone; overwrite: re-embed every item."),
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Delete points whose source left the folder or manifest.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest images with their texts (and text-only items) from folders and manifests.

    Running it again writes only what changed; a killed run resumes where it stopped.
    """
    from ingest.progress import terminal_progress
    from ingest.runner import ingest_paths
    from ingest.sources import check_path
    from rag.services import Services

    settings = common.settings_from_cli(
        **{
            "store.collection": collection,
            "ingest.batch_size": batch_size,
            "ingest.policy": policy.value if policy else None,
        }
    )
    with common.cli_errors():
        for path in paths:
            check_path(path)
        services = Services(settings)
        try:
            with terminal_progress() as progress:
                report = ingest_paths(services, paths, prune=prune, progress=progress)
        except KeyboardInterrupt:
            typer.echo("interrupted: run the same command again to resume", err=True)
            raise typer.Exit(130) from None
        finally:
            services.close()
    if json_output:
        common.print_json(report.to_dict())
    else:
        _print_report(report)


def _print_report(report: IngestReport) -> None:
    typer.echo(
        f"seen {report.seen}, written {report.written}, unchanged {report.unchanged}, "
        f"failed {report.failed}, pruned {report.pruned}, ignored {report.ignored} "
        f"({report.elapsed_s:.1f} s)"
    )
    if report.truncated:
        typer.echo(f"{report.truncated} texts were longer than the model's context (truncated)")
    if report.passage_truncated:
        typer.echo(
            f"{report.passage_truncated} texts were longer than the passage model's limit "
            "(cut there; MMRAG_INGEST__LONG_TEXT=chunk splits them)"
        )
    for failure in report.failures:
        typer.echo(f"failed: {failure.source}: {failure.reason}")

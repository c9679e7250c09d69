"""``mmrag ingest PATH...``: ingest folders and manifests into the collection, then report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from ingest.report import IngestReport, ProgressSink
    from rag.config import Settings


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
    server: Annotated[
        str | None,
        typer.Option(
            help="Send the job to this mmrag server (http://host:8000); by default it goes to the "
            "server that runs on the same data folder, if any."
        ),
    ] = None,
) -> None:
    """Ingest images with their texts (and text-only items) from folders and manifests.

    Running it again writes only what changed; a killed run resumes where it stopped. While
    ``mmrag serve`` runs on the same data folder, the job goes through the server.
    """
    from ingest.sources import check_path

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
        report = _ingest(settings, paths, prune, server, collection, policy)
    if json_output:
        common.print_json(report.to_dict())
    else:
        _print_report(report)


def _ingest(
    settings: Settings,
    paths: list[Path],
    prune: bool,
    server: str | None,
    collection: str | None,
    policy: Policy | None,
) -> IngestReport:
    """Here, or through the server when one is named, runs on this data folder, or holds its
    store (``StoreLockedError``)."""
    from ingest.runner import ingest_paths
    from mmrag_cli.remote import running_server
    from rag.errors import StoreLockedError
    from rag.services import Services

    server = server or running_server(settings)
    if server is None:
        services = Services(settings)
        try:
            _ = services.store
        except StoreLockedError:
            services.close()
            server = running_server(settings)
            if server is None:
                raise
        else:
            try:
                with _progress() as progress:
                    return ingest_paths(services, paths, prune=prune, progress=progress)
            finally:
                services.close()
    body = {"prune": prune, "collection": collection, "policy": policy.value if policy else None}
    return _ingest_remote(server, settings, paths, body)


def _ingest_remote(
    server: str, settings: Settings, paths: list[Path], body: dict[str, Any]
) -> IngestReport:
    from mmrag_cli.remote import RemoteIngest

    typer.echo(f"sending the job to the mmrag server at {server}", err=True)
    remote = RemoteIngest(server, settings)
    with _progress(resume_hint=False) as progress:
        try:
            return remote.run(paths, {k: v for k, v in body.items() if v is not None}, progress)
        except KeyboardInterrupt:
            typer.echo("\ninterrupted: the job was cancelled on the server", err=True)
            raise typer.Exit(130) from None


@contextmanager
def _progress(resume_hint: bool = True) -> Iterator[ProgressSink]:
    from ingest.progress import terminal_progress

    try:
        with terminal_progress() as progress:
            yield progress
    except KeyboardInterrupt:
        if resume_hint:
            typer.echo("interrupted: run the same command again to resume", err=True)
        raise typer.Exit(130) from None


def _print_report(report: IngestReport) -> None:
    typer.echo(
        f"seen {report.seen}, written {report.written}, unchanged {report.unchanged}, "
        f"failed {report.failed}, pruned {report.pruned}, ignored {report.ignored} "
        f"({report.elapsed_s:.1f} s)"
    )
    if report.truncated:
        typer.echo(f"{report.truncated} texts were longer than the model's context (truncated)")
    if report.documents:
        typer.echo(
            f"{report.documents} documents; {report.replaced} points of changed documents "
            f"removed; {report.remote_images} remote pictures not fetched"
        )
    for note in report.notes:
        typer.echo(f"note: {note.source}: {note.reason}")
    if report.passage_truncated:
        typer.echo(
            f"{report.passage_truncated} texts were longer than the passage model's limit "
            "(cut there; MMRAG_INGEST__LONG_TEXT=chunk splits them)"
        )
    if report.retries:
        typer.echo(f"tries made again after transient errors: {report.retries}")
    for copy in report.near_duplicates:
        typer.echo(f"near-duplicate: {copy.source}: {copy.reason}")
    for failure in report.failures:
        tries = f" (after {failure.attempts} tries)" if failure.attempts > 1 else ""
        typer.echo(f"failed: {failure.source}: {failure.reason}{tries}")

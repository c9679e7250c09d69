"""``mmrag sources add|list|remove|sync``: sources that stay in sync (watched folders, S3
buckets, web sites). The configuration lives beside the job store, so these commands work
whether or not ``mmrag serve`` runs; a sync goes to the running server's queue when there is
one, else it runs here."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from mmrag_cli import common

sources_app = typer.Typer(
    name="sources", help="Synced sources: folders, S3 buckets, web sites.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app)


@sources_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The source's name (a-z, 0-9, _ and -).")],
    kind: Annotated[str, typer.Argument(help="folder, s3 or web.")],
    location: Annotated[
        str, typer.Argument(help="A server folder, s3://bucket/prefix, or a start/sitemap URL.")
    ],
    collection: Annotated[str | None, typer.Option(help="Collection to write.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant whose points it writes.")] = None,
    schedule: Annotated[
        int | None, typer.Option(min=10, help="Seconds between scheduled syncs.")
    ] = None,
    watch: Annotated[bool, typer.Option(help="Folder: sync when files change.")] = True,
    debounce_ms: Annotated[int, typer.Option(min=50, help="Folder: quiet time first.")] = 1000,
    policy: Annotated[str | None, typer.Option(help="skip or overwrite.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="S3: the endpoint URL.")] = None,
    region: Annotated[str | None, typer.Option(help="S3: the region.")] = None,
    secrets_file: Annotated[
        str | None, typer.Option(help="S3: a JSON file with aws_access_key_id/secret.")
    ] = None,
    host: Annotated[
        list[str] | None, typer.Option(help="Web: a host pages may come from (repeat).")
    ] = None,
    max_depth: Annotated[int, typer.Option(min=0, help="Web: links followed.")] = 2,
    max_pages: Annotated[int, typer.Option(min=1, help="Web: pages at most.")] = 100,
) -> None:
    """Add a source; it syncs on its schedule, when its folder changes (while `mmrag serve`
    runs), or with `mmrag sources sync NAME`."""
    from pydantic import ValidationError

    from ingest.sync.manage import add_source
    from ingest.sync.model import SourceConfig
    from ingest.sync.registry import SourceRegistry
    from rag.errors import InvalidInputError

    settings = common.settings_from_cli()
    with common.cli_errors():
        try:
            config = SourceConfig(
                name=name,
                kind=kind,  # type: ignore[arg-type]
                location=location,
                collection=collection,
                tenant=tenant,
                schedule_s=schedule,
                watch=watch,
                debounce_ms=debounce_ms,
                policy=policy,  # type: ignore[arg-type]
                endpoint_url=endpoint_url,
                region=region,
                secrets_file=secrets_file,
                hosts=host or [],
                max_depth=max_depth,
                max_pages=max_pages,
            )
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidInputError(f"source not added: {reasons}") from None
        add_source(SourceRegistry.for_settings(settings), settings, config)
    typer.echo(f"source {name} added")


@sources_app.command("list")
def list_sources(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The sources with their state: last sync, counts, error, next run."""
    from ingest.sync.registry import SourceRegistry

    settings = common.settings_from_cli()
    with common.cli_errors():
        records = SourceRegistry.for_settings(settings).records()
    if json_output:
        common.print_json([r.model_dump(mode="json") for r in records])
        return
    if not records:
        typer.echo("no sources; add one with `mmrag sources add NAME KIND LOCATION`")
    for record in records:
        config, state = record.config, record.state
        last = state.last_sync_at.isoformat(timespec="seconds") if state.last_sync_at else "never"
        upcoming = state.next_run_at.isoformat(timespec="seconds") if state.next_run_at else "-"
        typer.echo(f"{config.name}  {config.kind}  {config.location}")
        typer.echo(
            f"  last sync {last}: {state.seen} seen, {state.written} written, "
            f"{state.unchanged} unchanged, {state.failed} failed, {state.moved} moved, "
            f"{state.deleted} points deleted; next run {upcoming}"
        )
        if state.error:
            typer.echo(f"  error: {state.error}")
        for error in state.errors[:5]:
            typer.echo(f"  failed: {error}")


@sources_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The source to remove.")],
    purge: Annotated[bool, typer.Option(help="Delete the source's points too.")] = False,
) -> None:
    """Remove a source (its points stay unless --purge; while `mmrag serve` runs, purge through
    DELETE /v1/sources/NAME?purge=true)."""
    from ingest.sync.manage import remove_source
    from ingest.sync.registry import SourceRegistry
    from rag.services import Services

    settings = common.settings_from_cli()
    services = Services(settings)
    try:
        with common.cli_errors():
            deleted = remove_source(SourceRegistry.for_settings(settings), services, name, purge)
    finally:
        services.close()
    typer.echo(f"source {name} removed" + (f" ({deleted} points deleted)" if purge else ""))


@sources_app.command("sync")
def sync(
    name: Annotated[str, typer.Argument(help="The source to sync now.")],
    wait: Annotated[bool, typer.Option(help="Follow the queued job to its end.")] = True,
) -> None:
    """Sync a source now: through the running server's queue (or Redis), else here."""
    from ingest.queue import open_jobs
    from ingest.sync.registry import SourceRegistry
    from ingest.sync.scheduler import submit_sync
    from mmrag_cli.remote import running_server

    settings = common.settings_from_cli()
    registry = SourceRegistry.for_settings(settings)
    with common.cli_errors():
        registry.get(name)
        if running_server(settings) or settings.queue.url:
            jobs = open_jobs(settings)
            job_id = submit_sync(jobs, registry, name)
            typer.echo(f"sync job {job_id} queued")
            if wait:
                _follow(jobs, job_id)
            return
        _sync_here(settings, name)


def _follow(jobs: object, job_id: str) -> None:
    from ingest.specs import JobState

    while True:
        status = jobs.get(job_id)  # type: ignore[attr-defined]
        if status.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
            break
        time.sleep(0.5)
    _print(status.report or {}, status.state.value, status.error)
    if status.state != JobState.DONE:
        raise typer.Exit(1)


def _sync_here(settings: object, name: str) -> None:
    from ingest.specs import JobSpec
    from ingest.sync.run import run_sync
    from rag.services import Services

    services = Services(settings)  # type: ignore[arg-type]
    try:
        report = run_sync(services, JobSpec.for_source(name, None, None))
    finally:
        services.close()
    _print(report.to_dict(), "done", None)


def _print(report: dict, state: str, error: str | None) -> None:
    counts = ("seen", "written", "unchanged", "failed", "pruned", "points_written")
    named = {"pruned": "points deleted", "points_written": "points written"}
    parts = [f"{report.get(name, 0)} {named.get(name, name)}" for name in counts]
    typer.echo(f"sync {state}: " + ", ".join(parts))
    if error:
        typer.echo(f"error: {error}")

"""``mmrag backup DEST`` and ``mmrag restore SRC``: a verified copy of the data folder's store,
job queue, uploads, pictures and keys file, and its restore into an empty data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmrag_cli import common


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder to write the backup in.")],
) -> None:
    """Back up the store, job queue, uploads, pictures and keys file into DEST, each file
    checked against its SHA-256. While `mmrag serve` runs on this data folder, ask it instead:
    POST /v1/admin/backup (it pauses its writes for a moment and goes on serving)."""
    from ingest.backup import take_backup
    from rag.errors import StoreLockedError
    from rag.services import Services

    settings = common.settings_from_cli()
    services = Services(settings)
    try:
        with common.cli_errors():
            try:
                manifest = take_backup(services, dest)
            except StoreLockedError as exc:
                raise StoreLockedError(
                    f"{exc}. A running server backs itself up: POST /v1/admin/backup"
                ) from None
    finally:
        services.close()
    size = sum(entry["size"] for entry in manifest["files"])
    typer.echo(f"backup written to {dest}: {len(manifest['files'])} files, {size} bytes")


def restore(
    src: Annotated[Path, typer.Argument(help="A backup folder written by `mmrag backup`.")],
) -> None:
    """Restore the backup SRC into the data folder (MMRAG_DATA_DIR), which must be empty. Every
    file is checked first: a damaged or partial backup is refused and nothing is written."""
    from ingest.backup import restore_backup

    settings = common.settings_from_cli()
    with common.cli_errors():
        manifest = restore_backup(src, settings)
    typer.echo(f"restored {len(manifest['files'])} files into {settings.data_dir}")
    for collection, snapshot in manifest.get("snapshots", {}).items():
        typer.echo(
            f"Qdrant keeps snapshot {snapshot} of {collection!r}: recover it with "
            f"PUT /collections/{collection}/snapshots/recover (docs/deploy.md)"
        )

"""``POST /v1/admin/backup``: a verified backup of this server's data while it serves (admins)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter, Request

from api.schemas.admin import BackupIn, BackupOut
from ingest.backup import take_backup
from rag.backup_format import BackupError
from rag.services import Services

router = APIRouter(prefix="/v1/admin", tags=["admin"])

BACKUPS_DIR = "backups"


@router.post("/backup")
def backup(request: Request, body: BackupIn | None = None) -> BackupOut:
    """Back up the embedded store, the job queue, uploads, pictures and the keys file into
    ``<data_dir>/backups/<name>`` (writes wait a moment; searches go on). A name already taken
    is a 400. Restore with ``mmrag restore PATH`` into an empty data folder. Admins only."""
    services: Services = request.app.state.services
    name = (body.name if body else None) or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = Path(services.settings.data_dir) / BACKUPS_DIR / name
    if dest.exists():
        raise BackupError(f"a backup named {name!r} exists: choose another name")
    manifest = take_backup(services, dest)
    return BackupOut(
        path=str(dest),
        engine=manifest["engine"],
        files=len(manifest["files"]),
        bytes=sum(entry["size"] for entry in manifest["files"]),
        collections=manifest["collections"],
        jobs=manifest.get("jobs"),
        snapshots=manifest.get("snapshots", {}),
    )

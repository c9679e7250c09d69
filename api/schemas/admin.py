"""Admin operations: backups."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BackupIn(BaseModel):
    """``name``: the backup's folder under ``<data_dir>/backups`` (default: the time, UTC)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class BackupOut(BaseModel):
    """The backup written: where, how many files and bytes, points per embedded collection
    (``None``: a collection no process had open), jobs in the SQLite queue, and Qdrant snapshot
    names per collection for the server engine."""

    path: str
    engine: str
    files: int
    bytes: int
    collections: dict[str, int | None]
    jobs: int | None
    snapshots: dict[str, str] = {}

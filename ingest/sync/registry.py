"""The configured sources and their state, in ``<files_dir>/sources.sqlite3`` (beside the job
store; in the shared folder when workers run on several machines).

Example::

    registry = SourceRegistry.for_settings(settings)
    registry.add(SourceConfig(name="docs", kind="folder", location="/srv/docs"))
    registry.get("docs").state.last_sync_at
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.sqlite_db import connected
from ingest.sync.model import SourceConfig, SourceRecord, SourceState
from rag.config import Settings
from rag.errors import InvalidInputError, NotFoundError

DB_FILE = "sources.sqlite3"
MAX_ERRORS = 50
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    tenant TEXT,
    config TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    tag TEXT NOT NULL,
    size INTEGER NOT NULL,
    stamp TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source, key)
);
"""


class SourceRegistry:
    """Sources by name, their state, and the objects each sync last saw (key, tag, size)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @classmethod
    def for_settings(cls, settings: Settings) -> SourceRegistry:
        return cls(Path(settings.files_dir) / DB_FILE)

    # --- configuration --------------------------------------------------------------------

    def add(self, config: SourceConfig) -> SourceRecord:
        """Add ``config``; a name already taken is an ``InvalidInputError``."""
        state = SourceState()
        if config.schedule_s:
            state.next_run_at = _now()
        try:
            with self._db() as db:
                db.execute(
                    "INSERT INTO sources (name, tenant, config, state) VALUES (?, ?, ?, ?)",
                    (config.name, config.tenant, config.model_dump_json(), state.model_dump_json()),
                )
        except sqlite3.IntegrityError:
            raise InvalidInputError(
                f"a source named {config.name!r} exists: remove it first or choose another name"
            ) from None
        return SourceRecord(config=config, state=state)

    def get(self, name: str) -> SourceRecord:
        with self._db() as db:
            row = db.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no source {name!r}; `mmrag sources list` shows the known ones")
        return _record(row)

    def records(self, tenant: str | None = None, every: bool = True) -> list[SourceRecord]:
        """Sources by name; with ``every=False``, only ``tenant``'s."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM sources ORDER BY name").fetchall()
        records = [_record(row) for row in rows]
        return records if every else [r for r in records if r.config.tenant == tenant]

    def remove(self, name: str) -> SourceRecord:
        record = self.get(name)
        with self._db() as db:
            db.execute("DELETE FROM sources WHERE name = ?", (name,))
            db.execute("DELETE FROM objects WHERE source = ?", (name,))
        return record

    # --- state ----------------------------------------------------------------------------

    def update_state(self, name: str, **changes: object) -> SourceState:
        """Set fields of the source's state (unknown source: ``NotFoundError``)."""
        record = self.get(name)
        state = record.state.model_copy(update=changes)
        state.errors = state.errors[:MAX_ERRORS]
        with self._db() as db:
            db.execute(
                "UPDATE sources SET state = ? WHERE name = ?", (state.model_dump_json(), name)
            )
        return state

    def submitted(self, name: str, job_id: str) -> None:
        """A sync job was queued: the next scheduled run counts from now."""
        config = self.get(name).config
        later = _now() + timedelta(seconds=config.schedule_s) if config.schedule_s else None
        self.update_state(name, last_job=job_id, next_run_at=later)

    def due(self, now: datetime | None = None) -> list[SourceRecord]:
        """Scheduled sources whose next run has come."""
        now = now or _now()
        return [
            r
            for r in self.records()
            if r.config.schedule_s and (r.state.next_run_at is None or r.state.next_run_at <= now)
        ]

    # --- objects a sync saw ---------------------------------------------------------------

    def objects(self, name: str) -> dict[str, tuple[str, int, str]]:
        """``key -> (tag, size, stamp)`` of the objects the source's last sync kept."""
        with self._db() as db:
            rows = db.execute(
                "SELECT key, tag, size, stamp FROM objects WHERE source = ?", (name,)
            ).fetchall()
        return {row["key"]: (row["tag"], row["size"], row["stamp"]) for row in rows}

    def put_object(self, name: str, key: str, tag: str, size: int, stamp: str = "") -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO objects (source, key, tag, size, stamp) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, key, tag, size, stamp),
            )

    def replace_objects(
        self, name: str, prefix: str, objects: dict[str, tuple[str, int, str]]
    ) -> None:
        """Replace the source's objects whose key starts with ``prefix`` by ``objects``
        (keys without the prefix), in one transaction."""
        rows = [
            (name, prefix + key, tag, size, stamp) for key, (tag, size, stamp) in objects.items()
        ]
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "DELETE FROM objects WHERE source = ? AND substr(key, 1, ?) = ?",
                (name, len(prefix), prefix),
            )
            db.executemany(
                "INSERT INTO objects (source, key, tag, size, stamp) VALUES (?, ?, ?, ?, ?)", rows
            )
            db.execute("COMMIT")

    def drop_object(self, name: str, key: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM objects WHERE source = ? AND key = ?", (name, key))

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return connected(self.path, "source")


def _record(row: sqlite3.Row) -> SourceRecord:
    return SourceRecord(
        config=SourceConfig.model_validate_json(row["config"]),
        state=SourceState.model_validate_json(row["state"]),
    )


def _now() -> datetime:
    return datetime.now(UTC)

"""A persistent job queue in SQLite: the API submits, workers claim; a restart loses nothing.

Example::

    queue = JobQueue.for_settings(settings)          # <data_dir>/jobs.sqlite3
    job_id = queue.submit(JobSpec(paths=["/srv/photos"]))
    queue.get(job_id).state                           # JobState.QUEUED
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.specs import JobSpec, JobState, JobStatus, Progress, UploadItem
from ingest.sqlite_db import connected
from rag.config import Settings
from rag.errors import NotFoundError

__all__ = ["JobQueue", "JobSpec", "JobState", "JobStatus", "Progress", "UploadItem", "owner_id"]

DB_FILE = "jobs.sqlite3"
MAX_ATTEMPTS = 3
"""A job whose worker died this many times is marked failed instead of requeued."""

_PROCESS_NONCE = uuid.uuid4().hex[:12]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    heartbeat_at REAL,
    owner TEXT,
    progress TEXT,
    report TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    tenant TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""
_TENANT_COLUMN = """
ALTER TABLE jobs ADD COLUMN tenant TEXT;
UPDATE jobs SET tenant = json_extract(spec, '$.tenant');
"""
"""Databases made before jobs had a ``tenant`` column get it, filled from each job's spec."""


def owner_id(name: str = "worker") -> str:
    """Who runs a job: ``host|pid|process nonce|name`` (lets a restart spot its dead jobs)."""
    return f"{socket.gethostname()}|{os.getpid()}|{_PROCESS_NONCE}|{name}"


class JobQueue:
    """Ingest jobs in a SQLite file, safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wakeup = threading.Condition()
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            if "tenant" not in columns:
                _add_tenant_column(db)
            db.execute("CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant, seq)")

    @classmethod
    def for_settings(cls, settings: Settings) -> JobQueue:
        """The queue at ``<data_dir>/jobs.sqlite3``."""
        return cls(Path(settings.data_dir) / DB_FILE)

    # --- the API's side -------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> str:
        """Queue ``spec``; returns the new job's id."""
        job_id = uuid.uuid4().hex
        with self._db() as db:
            db.execute(
                "INSERT INTO jobs (id, state, spec, created_at, tenant) VALUES (?, ?, ?, ?, ?)",
                (job_id, JobState.QUEUED.value, spec.model_dump_json(), _now(), spec.tenant),
            )
        with self._wakeup:
            self._wakeup.notify_all()
        return job_id

    def get(self, job_id: str) -> JobStatus:
        """The job's status; :class:`NotFoundError` for an unknown id."""
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no ingest job {job_id!r}; list jobs to see the known ids")
        return _status(row)

    def jobs(
        self, limit: int = 50, state: JobState | None = None, tenant: str | None = None
    ) -> list[JobStatus]:
        """Jobs, newest first (optionally only those in ``state``, only ``tenant``'s)."""
        conditions, args = [], []
        if state:
            conditions, args = ["state = ?"], [JobState(state).value]
        if tenant is not None:
            conditions, args = [*conditions, "tenant = ?"], [*args, tenant]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._db() as db:
            rows = db.execute(
                f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", [*args, limit]
            ).fetchall()
        return [_status(row) for row in rows]

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a queued job now, or ask a running one to stop after its current batch."""
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ? WHERE id = ? AND state = ?",
                (JobState.CANCELLED.value, _now(), job_id, JobState.QUEUED.value),
            )
            db.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = ?",
                (job_id, JobState.RUNNING.value),
            )
        return self.get(job_id)

    # --- the worker's side ----------------------------------------------------------------

    def claim(self, owner: str) -> JobStatus | None:
        """Take the oldest queued job (now ``running``, owned by ``owner``), or ``None``."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT id FROM jobs WHERE state = ? ORDER BY seq LIMIT 1",
                (JobState.QUEUED.value,),
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE jobs SET state = ?, owner = ?, started_at = ?, heartbeat_at = ?,"
                    " attempts = attempts + 1 WHERE id = ?",
                    (JobState.RUNNING.value, owner, _now(), time.time(), row["id"]),
                )
            db.execute("COMMIT")
        return None if row is None else self.get(row["id"])

    def heartbeat(self, job_id: str, owner: str, progress: Progress | None = None) -> bool:
        """Record that ``owner`` still runs the job (and its progress); returns whether it should
        stop: a cancel was asked, or the job is no longer ``owner``'s (recovered elsewhere)."""
        sets, args = ("heartbeat_at = ?", [time.time()])
        if progress is not None:
            sets, args = (sets + ", progress = ?", [*args, progress.model_dump_json()])
        with self._db() as db:
            db.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND owner = ? AND state = ?",
                (*args, job_id, owner, JobState.RUNNING.value),
            )
            row = db.execute(
                "SELECT cancel_requested, owner, state FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        if row is None or row["owner"] != owner or row["state"] != JobState.RUNNING.value:
            return True
        return bool(row["cancel_requested"])

    def finish(
        self,
        job_id: str,
        owner: str,
        report: dict[str, Any],
        state: JobState = JobState.DONE,
    ) -> bool:
        """End ``owner``'s running job with its report (``done``, ``cancelled`` when it was
        stopped, ``failed`` when every item failed); ``False`` when the job is not ``owner``'s."""
        columns = {"report": json.dumps(report), "progress": _progress_of(report).model_dump_json()}
        if state == JobState.FAILED:
            columns["error"] = every_item_failed(report)
        return self._end(job_id, owner, state, **columns)

    def fail(self, job_id: str, owner: str, error: str) -> bool:
        """End ``owner``'s running job as ``failed`` with the reason (``False``: not its job)."""
        return self._end(job_id, owner, JobState.FAILED, error=error)

    def release(self, job_id: str, owner: str) -> bool:
        """Put ``owner``'s running job back in the queue (its worker is shutting down)."""
        with self._db() as db:
            changed = db.execute(
                "UPDATE jobs SET state = ?, owner = NULL WHERE id = ? AND state = ? AND owner = ?",
                (JobState.QUEUED.value, job_id, JobState.RUNNING.value, owner),
            ).rowcount
        return changed == 1

    def recover(self, stale_after_s: float = 60.0) -> list[str]:
        """Requeue running jobs whose worker is gone: a dead process on this host, or no
        heartbeat for ``stale_after_s``. Jobs that already used :data:`MAX_ATTEMPTS` fail.

        Each job is taken from the owner seen at the check only (a job claimed again meanwhile
        is left to its new worker)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id, owner, heartbeat_at, attempts FROM jobs WHERE state = ?",
                (JobState.RUNNING.value,),
            ).fetchall()
        orphans = [r for r in rows if _orphaned(r["owner"], r["heartbeat_at"], stale_after_s)]
        recovered = []
        for row in orphans:
            if row["attempts"] >= MAX_ATTEMPTS:
                reason = f"its worker died {row['attempts']} times while running it"
                taken = self.fail(row["id"], row["owner"], reason)
            else:
                taken = self.release(row["id"], row["owner"])
            if taken:
                recovered.append(row["id"])
        return recovered

    def wait_for_work(self, timeout_s: float) -> None:
        """Sleep until a job is submitted in this process, or ``timeout_s`` passes."""
        with self._wakeup:
            self._wakeup.wait(timeout_s)

    def notify(self) -> None:
        """Wake threads in :meth:`wait_for_work`."""
        with self._wakeup:
            self._wakeup.notify_all()

    # --- internals ------------------------------------------------------------------------

    def _end(self, job_id: str, owner: str, state: JobState, **columns: str) -> bool:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._db() as db:
            changed = db.execute(
                f"UPDATE jobs SET state = ?, finished_at = ?, {assignments}"
                " WHERE id = ? AND state = ? AND owner = ?",
                (state.value, _now(), *columns.values(), job_id, JobState.RUNNING.value, owner),
            ).rowcount
        return changed == 1

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return connected(self.path, "job")


def _add_tenant_column(db: sqlite3.Connection) -> None:
    try:
        db.executescript(f"BEGIN IMMEDIATE; {_TENANT_COLUMN} COMMIT;")
    except sqlite3.OperationalError as exc:  # another process added it meanwhile
        if db.in_transaction:
            db.execute("ROLLBACK")
        if "duplicate column" not in str(exc):
            raise


def _orphaned(owner: str | None, heartbeat_at: float | None, stale_after_s: float) -> bool:
    if heartbeat_at is None or time.time() - heartbeat_at > stale_after_s:
        return True
    host, pid, nonce, _ = ((owner or "") + "|||").split("|", 3)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return nonce != _PROCESS_NONCE
    return not _pid_alive(int(pid))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _status(row: sqlite3.Row) -> JobStatus:
    return JobStatus(
        id=row["id"],
        state=JobState(row["state"]),
        spec=JobSpec.model_validate_json(row["spec"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        progress=Progress.model_validate_json(row["progress"]) if row["progress"] else Progress(),
        report=json.loads(row["report"]) if row["report"] else None,
        error=row["error"],
        attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def every_item_failed(report: dict[str, Any]) -> str:
    """The error of a job whose items all failed."""
    failures = report.get("failures") or [{}]
    first = failures[0].get("reason", "")
    return f"every item failed ({report.get('failed', 0)}); the first: {first}"


def _progress_of(report: dict[str, Any]) -> Progress:
    return Progress(**{k: report.get(k, 0) for k in ("seen", "written", "unchanged", "failed")})


def _now() -> str:
    return datetime.now(UTC).isoformat()

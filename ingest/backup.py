"""Backup and restore of what one mmrag holds: the embedded store (every collection's Qdrant Edge
shard), the SQLite job queue (job history), uploads, page renders and figure crops, the tenants'
term key (``tenant-terms.key``) and the API keys file. With a Qdrant server
(``MMRAG_STORE__URL``) the store is a server-side snapshot per collection instead (Qdrant's
snapshot API), and with Redis the queue is Redis's own to persist.

A backup is consistent while the server serves: the writes of every open store wait while its
shard and the job queue are copied (a short pause; reads go on), collections no process has open
are locked for their copy, and files come after (a point's picture is written before the point).
Every file is hashed as it is copied and re-read before ``MANIFEST.json`` is written, last.

Example::

    manifest = take_backup(services, Path("/backups/2026-12-06"))
    restore_backup(Path("/backups/2026-12-06"), settings)   # into an empty data folder
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ingest.documents.pictures import pictures_dir
from ingest.jobs import DB_FILE
from ingest.uploads import uploads_dir
from rag.backup_format import (
    BackupError,
    BackupWriter,
    remove_contents,
    restore_file,
    verify_backup,
)
from rag.config import Settings
from rag.services import Services
from rag.store import EDGE_DIR, edge_path
from rag.store.locking import LOCK_SUFFIX, FolderLock
from rag.tenancy import TERM_KEY_FILE

log = logging.getLogger(__name__)

KEYS_NAME = "keys/api-keys"
RESTORED_KEYS_FILE = "api-keys"
"""Where the keys file is restored when ``MMRAG_API_KEYS_FILE`` is not set (in the data folder)."""


def take_backup(
    services: Services, dest: Path, while_paused: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Back up everything ``services`` (the app's own, not a tenant's view) hold into ``dest``,
    a new or empty folder. Returns the manifest. Raises :class:`BackupError`.

    ``while_paused`` runs after the store and queue are copied, while writes still wait (a
    caller's own reads of exactly what the backup holds)."""
    settings = services.settings
    writer = BackupWriter(dest)
    info: dict[str, Any] = {"engine": "server" if settings.store.url else "edge"}
    if settings.store.url:
        info["snapshots"] = _server_snapshots(services)
        info["collections"] = {}
        _copy_job_queue(settings, writer, info)
    else:
        with _writes_paused(services) as shards:
            info["collections"] = {}
            for collection, path, count in shards:
                writer.copy_tree(path, f"store/{collection}")
                info["collections"][collection] = count
            _copy_job_queue(settings, writer, info)
            if while_paused is not None:
                while_paused()
    files = settings.files_dir
    info["uploads"] = _copy_if_there(writer, uploads_dir(files), "files/uploads")
    info["pictures"] = _copy_if_there(writer, pictures_dir(files), "files/pictures")
    term_key = Path(files) / TERM_KEY_FILE  # tenants' lexical term ids depend on it
    if term_key.is_file():
        writer.copy_file(term_key, f"files/{TERM_KEY_FILE}")
    keys = settings.api_keys_file
    info["keys_file"] = bool(keys and Path(keys).is_file())
    if keys and Path(keys).is_file():
        writer.copy_file(Path(keys), KEYS_NAME)
    manifest = writer.finish(info)
    log.info("backup written to %s: %d files", dest, len(manifest["files"]))
    return manifest


def _copy_if_there(writer: BackupWriter, folder: Path, prefix: str) -> int:
    return writer.copy_tree(folder, prefix) if folder.is_dir() else 0


def _copy_job_queue(settings: Settings, writer: BackupWriter, info: dict[str, Any]) -> None:
    """The SQLite queue through SQLite's online backup (a consistent copy while it is written)."""
    source = Path(settings.data_dir) / DB_FILE
    info["jobs"] = None
    if settings.queue.url or not source.is_file():
        return
    target = writer.add_name(DB_FILE)
    with (
        contextlib.closing(sqlite3.connect(source, timeout=30.0)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        info["jobs"] = dst.execute("SELECT count(*) FROM jobs").fetchone()[0]


@contextlib.contextmanager
def _writes_paused(services: Services) -> Iterator[list[tuple[str, Path, int | None]]]:
    """Every embedded shard under the data folder, flushed and with its writes held until the
    block ends: (collection, shard folder, points or None)."""
    root = Path(services.settings.data_dir) / EDGE_DIR
    opened = {Path(store.path).resolve(): store for store in _open_edge_stores(services)}
    shards: list[tuple[str, Path, int | None]] = []
    with contextlib.ExitStack() as stack:
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if not path.is_dir() or path.name.endswith(LOCK_SUFFIX):
                continue
            store = opened.get(path.resolve())
            if store is None:  # nobody here has it open: hold its folder lock while copying
                stack.callback(FolderLock.acquire(path).release)
                shards.append((path.name, path, None))
                continue
            stack.enter_context(store.paused_writes())
            shards.append((path.name, path, store.count()))
        yield shards


def _open_edge_stores(services: Services) -> list[Any]:
    """The embedded stores ``services`` opened (the configured collection and others)."""
    from rag.store.edge import EdgeStore

    found = [
        services.__dict__.get("store"),
        *services.__dict__.get("_collection_stores", {}).values(),
    ]
    return [store for store in found if isinstance(store, EdgeStore)]


def _server_snapshots(services: Services) -> dict[str, str]:
    """A Qdrant snapshot of the configured collection (kept by the server, in its snapshots
    folder); returns {collection: snapshot name}."""
    store = services.store
    client = getattr(store, "client", None)
    if client is None:
        raise BackupError("the store has no Qdrant client to take a snapshot with")
    snapshot = client.create_snapshot(collection_name=store.collection, wait=True)
    if snapshot is None:
        raise BackupError(f"Qdrant took no snapshot of {store.collection!r}")
    return {store.collection: snapshot.name}


def restore_backup(src: Path, settings: Settings) -> dict[str, Any]:
    """Restore the backup at ``src`` into ``settings``' data folder, which must be empty (or not
    exist), after checking every file against the manifest. A damaged or partial backup is
    refused before anything is written. Returns the manifest."""
    src = Path(src)
    manifest = verify_backup(src)
    data_dir = Path(settings.data_dir)
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty: restore only into an empty data folder")
    targets = {entry["path"]: _target(entry["path"], settings) for entry in manifest["files"]}
    outside = [path for path in targets.values() if not path.is_relative_to(data_dir)]
    taken = [path for path in outside if path.exists()]
    if taken:
        raise BackupError(f"{taken[0]} exists: restore only where nothing is yet")
    data_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for entry in manifest["files"]:
            target = targets[entry["path"]]
            target.parent.mkdir(parents=True, exist_ok=True)
            written.append(target)
            restore_file(src / entry["path"], target, entry)
    except BaseException:
        for path in outside:
            if path in written:
                path.unlink(missing_ok=True)
        remove_contents(data_dir)
        raise
    log.info("backup %s restored into %s", src, data_dir)
    return manifest


def _target(name: str, settings: Settings) -> Path:
    """Where the backup file ``name`` goes under ``settings``."""
    parts = PurePosixPath(name).parts
    files = Path(settings.files_dir)
    if parts[0] == "store" and len(parts) >= 3:
        return edge_path(settings.data_dir, parts[1]).joinpath(*parts[2:])
    if name == DB_FILE:
        return Path(settings.data_dir) / DB_FILE
    if parts[:2] == ("files", "uploads"):
        return uploads_dir(files).joinpath(*parts[2:])
    if parts[:2] == ("files", "pictures"):
        return pictures_dir(files).joinpath(*parts[2:])
    if name == f"files/{TERM_KEY_FILE}":
        return files / TERM_KEY_FILE
    if name == KEYS_NAME:
        return Path(settings.api_keys_file or Path(settings.data_dir) / RESTORED_KEYS_FILE)
    raise BackupError(f"the backup holds {name!r}, which this mmrag does not know where to put")

"""One sync of a source, as the worker runs it: bring the source's objects local (S3, web),
move renamed files' points, ingest what is new or changed and prune what is gone, then record
the source's state.

Example::

    report = run_sync(services, JobSpec.for_source("docs"))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.report import IngestReport, ProgressSink
from ingest.runner import run_job
from ingest.specs import JobSpec
from ingest.sync.mirror import Fetched, SourceError, mirror_dir, mirrors_dir
from ingest.sync.model import SourceConfig
from ingest.sync.moves import move_item, scan_folder
from ingest.sync.registry import MAX_ERRORS, SourceRegistry
from rag import payload as keys
from rag.config import Settings
from rag.errors import InvalidInputError, MmragError
from rag.services import Services
from rag.store.base import Filter, MatchValue, VectorStore

log = logging.getLogger(__name__)
FILE = "file:"
UNREADABLE = "unreadable:"


def run_spec(
    services: Services,
    spec: JobSpec,
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """What a worker runs for a job: a source's sync, or :func:`ingest.runner.run_job`."""
    if spec.kind == "sync":
        return run_sync(services, spec, progress, should_stop)
    return run_job(services, spec, progress, should_stop)


def run_sync(
    services: Services,
    spec: JobSpec,
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """Sync the source ``spec.source`` names; its state records the outcome (an error too)."""
    registry = SourceRegistry.for_settings(services.settings)
    config = registry.get(str(spec.source)).config
    started = datetime.now(UTC)
    stop = should_stop or (lambda: False)
    try:
        root, anchor, fetched = prepare(services, config, registry, stop)
        if stop():
            return IngestReport(stopped=True)
        moved = apply_moves(services, config, registry, root, anchor)
        report = run_job(services, ingest_spec(config, root, anchor), progress, should_stop)
    except MmragError as exc:
        registry.update_state(config.name, last_sync_at=started, error=str(exc), errors=[])
        raise
    if not report.stopped:
        _record(registry, config, started, report, fetched, moved)
    return report


def prepare(
    services: Services, config: SourceConfig, registry: SourceRegistry, stop: Callable[[], bool]
) -> tuple[Path, Path, Fetched]:
    """The folder to ingest, the anchor it is opened from, and what fetching it did."""
    settings = services.settings
    if config.kind == "folder":
        root = Path(os.path.normpath(config.location))
        return root, folder_anchor(root, settings.ingest.roots), Fetched()
    mirror = mirror_dir(settings, config.name)
    mirror.mkdir(parents=True, exist_ok=True)
    anchor = Path(os.path.realpath(mirrors_dir(settings)))
    if config.kind == "s3":
        from ingest.sync.s3 import fetch_s3

        limit = settings.ingest.max_file_bytes
        return anchor / config.name, anchor, fetch_s3(config, registry, mirror, limit, stop)
    from ingest.sync.web import fetch_web

    limit = settings.ingest.max_file_bytes
    return anchor / config.name, anchor, fetch_web(config, registry, mirror, limit, stop)


def folder_anchor(path: Path, roots: list[Path]) -> Path:
    """The ingest root (``MMRAG_INGEST__ROOTS``) a folder source lies under."""
    real = [Path(os.path.realpath(root)) for root in roots]
    under = [root for root in real if path.is_absolute() and path.is_relative_to(root)]
    if not under:
        named = ", ".join(str(root) for root in real) or "none are configured"
        raise InvalidInputError(
            f"{path} is outside the ingest roots ({named}); add its folder to MMRAG_INGEST__ROOTS"
        )
    return max(under, key=lambda root: len(root.parts))


def apply_moves(
    services: Services, config: SourceConfig, registry: SourceRegistry, root: Path, anchor: Path
) -> int:
    """Move the points of files renamed since the last sync; returns how many files moved.
    The folder's item files (and the folders it could not list) are kept for the next sync."""
    previous = {
        k[len(FILE) :]: v for k, v in registry.objects(config.name).items() if k.startswith(FILE)
    }
    scan = scan_folder(root, anchor, previous)
    if scan.moves:
        store = services.for_tenant(config.tenant).store_for(config.collection)
        for old, new in scan.moves:
            moved = move_item(store, str(root), old, new)
            log.info("source %s: %s moved to %s (%d points)", config.name, old, new, moved)
    registry.replace_objects(config.name, FILE, scan.files)
    registry.replace_objects(config.name, UNREADABLE, {p: ("", 0, "") for p in scan.unreadable})
    return len(scan.moves)


# --- the Redis queue: one worker plans the sync, any worker runs its tasks ----------------


def plan_sync(services: Services, spec: JobSpec) -> JobSpec:
    """The first half of a sync on the Redis queue: fetch and move as :func:`run_sync` does;
    returns the ingest (without prune) whose tasks any worker runs. Running it twice (its
    worker died) fetches and moves nothing more."""
    registry = SourceRegistry.for_settings(services.settings)
    config = registry.get(str(spec.source)).config
    try:
        root, anchor, fetched = prepare(services, config, registry, lambda: False)
        moved = apply_moves(services, config, registry, root, anchor)
    except MmragError as exc:
        registry.update_state(config.name, last_sync_at=datetime.now(UTC), error=str(exc))
        raise
    registry.update_state(
        config.name, fetched=fetched.fetched, moved=moved, errors=fetched.errors[:MAX_ERRORS]
    )
    return ingest_spec(config, root, anchor).model_copy(update={"prune": False})


def finish_sync(services: Services, spec: JobSpec, report: dict[str, Any]) -> int:
    """The second half, once every task ended: delete the points of items no longer in the
    source's folder (all of a document's), then record the state. Idempotent: a worker killed
    before it ran leaves the deletes to the next sync. Returns how many points went."""
    registry = SourceRegistry.for_settings(services.settings)
    config = registry.get(str(spec.source)).config
    objects = registry.objects(config.name)
    present = {k[len(FILE) :] for k in objects if k.startswith(FILE)}
    skipped = tuple(k[len(UNREADABLE) :] for k in objects if k.startswith(UNREADABLE))
    root = source_root_of(services.settings, config)
    store = services.for_tenant(config.tenant).store_for(config.collection)
    deleted = prune_missing(store, root, present, skipped)
    state = registry.get(config.name).state
    failures = [f"{f['source']}: {f['reason']}" for f in report.get("failures", [])]
    registry.update_state(
        config.name,
        last_sync_at=datetime.now(UTC),
        last_ok_at=datetime.now(UTC),
        seen=report.get("seen", 0),
        written=report.get("written", 0),
        unchanged=report.get("unchanged", 0),
        failed=report.get("failed", 0) + len(state.errors),
        deleted=deleted,
        points_written=report.get("points_written", 0),
        error=None,
        errors=(state.errors + failures)[:MAX_ERRORS],
    )
    return deleted


def source_root_of(settings: Settings, config: SourceConfig) -> str:
    """The ``source_root`` payload value of the source's points."""
    if config.kind == "folder":
        return os.path.normpath(config.location)
    return str(Path(os.path.realpath(mirrors_dir(settings))) / config.name)


def prune_missing(
    store: VectorStore, root: str, present: set[str], unreadable: tuple[str, ...]
) -> int:
    """Delete the points under ``root`` whose item (``source``) is not in ``present`` and not
    under a folder that could not be listed; returns how many."""
    if "" in unreadable:
        return 0
    prefixes = tuple(folder.rstrip("/") + "/" for folder in unreadable)
    flt = Filter(must=(MatchValue(keys.SOURCE_ROOT, root),))
    doomed: list[str] = []
    offset: str | None = None
    while True:
        page, offset = store.scroll(flt, limit=512, offset=offset)
        for point in page:
            source = str(point.payload.get(keys.SOURCE, ""))
            if source not in present and not (prefixes and source.startswith(prefixes)):
                doomed.append(point.id)
        if offset is None:
            break
    for start in range(0, len(doomed), 512):
        store.delete(doomed[start : start + 512])
    return len(doomed)


def ingest_spec(config: SourceConfig, root: Path, anchor: Path) -> JobSpec:
    """The pruning ingest of the source's folder (its files opened beneath ``anchor``)."""
    return JobSpec(
        kind="paths",
        paths=[str(root)],
        collection=config.collection,
        policy=config.policy,
        batch_size=config.batch_size,
        prune=True,
        tenant=config.tenant,
        roots=[str(anchor)],
    )


def _record(
    registry: SourceRegistry,
    config: SourceConfig,
    started: datetime,
    report: IngestReport,
    fetched: Fetched,
    moved: int,
) -> None:
    errors = fetched.errors + [f"{f.source}: {f.reason}" for f in report.failures]
    registry.update_state(
        config.name,
        last_sync_at=started,
        last_ok_at=datetime.now(UTC),
        seen=report.seen,
        written=report.written,
        unchanged=report.unchanged,
        failed=report.failed + len(fetched.errors),
        deleted=report.pruned,
        moved=moved,
        fetched=fetched.fetched,
        points_written=report.points_written,
        error=None,
        errors=errors[:MAX_ERRORS],
    )


__all__ = ["SourceError", "run_spec", "run_sync"]

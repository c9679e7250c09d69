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

from ingest.report import IngestReport, ProgressSink
from ingest.runner import run_job
from ingest.specs import JobSpec
from ingest.sync.mirror import Fetched, SourceError, mirror_dir, mirrors_dir
from ingest.sync.model import SourceConfig
from ingest.sync.moves import move_item, scan_folder
from ingest.sync.registry import MAX_ERRORS, SourceRegistry
from rag.errors import InvalidInputError, MmragError
from rag.services import Services

log = logging.getLogger(__name__)
FILE = "file:"


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

        return anchor / config.name, anchor, fetch_s3(config, registry, mirror, stop)
    from ingest.sync.web import fetch_web

    return anchor / config.name, anchor, fetch_web(config, registry, mirror, stop)


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
    """Move the points of files renamed since the last sync; returns how many files moved."""
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
    return len(scan.moves)


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

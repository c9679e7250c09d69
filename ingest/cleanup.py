"""Delete stored files nothing needs any more: staged uploads (originals of images and documents)
and page renders, after a job ends (done, failed, cancelled) and when items are deleted.

Files lie apart per collection and tenant (:mod:`ingest.stored_files`) and are named by content
inside that folder, so one file may serve several items or jobs of one tenant: a file is deleted
only when no point of its collection names it (as ``image_path`` or ``file_path``) and no queued
or running job will read it. Files of the older shared layout (``uploads/<sha>.<ext>``) are left
alone: any tenant or collection may use them.

Example::

    keep = pending_paths(queue, skip_job=job.id, tenant=job.spec.tenant)
    discard_files(paths_of(job.spec), services.store_for(job.spec.collection), files_dir, keep)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from ingest.job_api import Jobs
from ingest.specs import JobSpec, JobState
from ingest.stored_files import STORED_FOLDERS, scope_of, tenant_folder
from rag import payload as keys
from rag.store.base import Filter, MatchValue, VectorStore
from rag.tenancy import TenantStore

log = logging.getLogger(__name__)


def paths_of(spec: JobSpec) -> list[str]:
    """The staged files an upload job reads (pictures and document originals)."""
    return [path for item in spec.items for path in (item.image_path, item.document_path) if path]


def paths_named(payload: dict[str, Any]) -> list[str]:
    """The stored files a point's payload names (its picture, its document's original)."""
    return [str(payload[name]) for name in (keys.IMAGE_PATH, keys.FILE_PATH) if payload.get(name)]


def pending_paths(queue: Jobs, skip_job: str | None = None, tenant: str | None = None) -> set[str]:
    """Staged files that queued or running jobs (other than ``skip_job``; of ``tenant`` when
    given: no other tenant's job reads its files) will still read."""
    found: set[str] = set()
    for state in (JobState.QUEUED, JobState.RUNNING):
        for job in queue.jobs(limit=10_000, state=state, tenant=tenant):
            if job.id != skip_job:
                found.update(paths_of(job.spec))
    return found


def discard_files(
    paths: Iterable[str | Path],
    store: VectorStore,
    files_dir: Path,
    keep: Collection[str] = frozenset(),
) -> int:
    """Delete each of ``paths`` that lies in a folder of ``store``'s collection (and tenant, for
    a tenant's view) under ``files_dir``, is not in ``keep`` and that no point of ``store``
    names. Returns how many files went."""
    removed = 0
    for path in dict.fromkeys(str(p) for p in paths):
        if path in keep or not _ours(path, store, files_dir) or _named(store, path):
            continue
        try:
            os.unlink(path)
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not delete the stored file %s: %s", path, exc)
            continue
        _discard_read_text(Path(path))
    return removed


def _discard_read_text(picture: Path) -> None:
    """Delete what OCR read from a render or crop that went (``<sha>.<engine>.ocr.json``)."""
    if picture.suffix != ".png":
        return
    for cached in picture.parent.glob(f"{picture.stem}.*.ocr.json"):
        try:
            cached.unlink()
        except OSError as exc:
            log.warning("could not delete the cached OCR text %s: %s", cached, exc)


def _ours(path: str, store: VectorStore, files_dir: Path) -> bool:
    """Whether ``path`` is a stored file that only points of ``store`` can name (not a symlink,
    not a file of an ingested folder)."""
    if os.path.islink(path):
        return False
    for name in STORED_FOLDERS:
        scope = scope_of(path, Path(files_dir) / name)
        if scope is not None:
            collection, tenant = store_scope(store)
            return scope[0] == collection and (tenant is None or scope[1] == tenant_folder(tenant))
    return False


def store_scope(store: VectorStore) -> tuple[str, str | None]:
    """The collection of ``store`` and its tenant (``None``: the whole collection)."""
    if isinstance(store, TenantStore):
        return store.base.collection, store.tenant
    return store.collection, None


def _named(store: VectorStore, path: str) -> bool:
    return any(
        store.count(Filter(must=(MatchValue(field, path),))) > 0
        for field in (keys.IMAGE_PATH, keys.FILE_PATH)
    )

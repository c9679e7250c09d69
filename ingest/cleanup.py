"""Delete staged upload files nothing needs any more (failed or cancelled jobs, deleted items).

Uploads are content-addressed (``<files_dir>/uploads/<sha256>.<ext>``), so one file may serve
several items or jobs: a file is deleted only when no point of the store names it and no queued
or running job will read it.

Example::

    discard_uploads(paths_of(job.spec), services.store, settings.files_dir, pending_paths(queue))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ingest.job_api import Jobs
from ingest.specs import JobSpec, JobState
from ingest.uploads import uploads_dir
from rag import payload as keys
from rag.store.base import Filter, MatchValue, VectorStore

log = logging.getLogger(__name__)


def paths_of(spec: JobSpec) -> list[str]:
    """The staged files an upload job reads."""
    return [item.image_path for item in spec.items if item.image_path]


def pending_paths(queue: Jobs, skip_job: str | None = None) -> set[str]:
    """Staged files that queued or running jobs (other than ``skip_job``) will still read."""
    found: set[str] = set()
    for state in (JobState.QUEUED, JobState.RUNNING):
        for job in queue.jobs(limit=10_000, state=state):
            if job.id != skip_job:
                found.update(paths_of(job.spec))
    return found


def discard_uploads(
    paths: Iterable[str], store: VectorStore, files_dir: Path, keep: set[str] = frozenset()
) -> int:
    """Delete each of ``paths`` that lies in the upload folder, is not in ``keep`` and that no
    point of ``store`` names. Returns how many files went."""
    folder = os.path.realpath(uploads_dir(files_dir))
    removed = 0
    for path in dict.fromkeys(paths):
        if path in keep or os.path.dirname(os.path.realpath(path)) != folder:
            continue
        named = Filter(must=(MatchValue(keys.IMAGE_PATH, path),))
        if store.count(named) > 0:
            continue
        try:
            os.unlink(path)
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not delete the staged upload %s: %s", path, exc)
    return removed

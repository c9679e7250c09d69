"""A job's dead letters (what failed for good, each item with its reason and tries) and the job
that runs them again.

Items are named as the report names them (``source``: a file's path, a manifest line, an
upload's ``name (#i)``); a retry job carries those names (``JobSpec.only``) and its worker walks
the same sources again, keeping only the named items. A job that failed as a whole (a full
disk, a worker that kept dying) is run again whole: what it wrote before is unchanged and
skipped, so only the rest is read and embedded.

Example::

    letters = dead_letters(jobs.get(job_id))   # letters.failures, letters.whole_job
    new_id = jobs.submit(retry_spec(jobs.get(job_id)))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.items import Source, SourceItem, Unreadable
from ingest.job_api import Jobs
from ingest.report import ItemError
from ingest.specs import JobSpec, JobState, JobStatus
from ingest.uploads import upload_source
from rag.errors import ConflictError

_ACTIVE = (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True)
class DeadLetters:
    """What of a job failed: ``failures`` as its report lists them (at most the report's cap;
    ``failed`` is exact), or the whole job (``whole_job``, with the job's ``error``)."""

    job_id: str
    state: JobState
    source: str | None
    whole_job: bool
    error: str | None
    failed: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def retryable(self) -> bool:
        """Whether :func:`retry_spec` has something to run (items, or the whole job)."""
        return self.state not in _ACTIVE and (self.whole_job or self.failed > 0)


def dead_letters(job: JobStatus) -> DeadLetters:
    """The dead letters of ``job`` (none while it is queued or running)."""
    report = job.report or {}
    failures = list(report.get("failures") or []) if job.state not in _ACTIVE else []
    return DeadLetters(
        job_id=job.id,
        state=job.state,
        source=job.spec.source,
        whole_job=failed_as_a_whole(job),
        error=job.error,
        failed=int(report.get("failed", len(failures))) if failures else 0,
        failures=failures,
    )


def can_retry(job: JobStatus) -> bool:
    """Whether :func:`retry_spec` would give a job (the web page's Retry button)."""
    try:
        retry_spec(job)
    except ConflictError:
        return False
    return True


def failed_as_a_whole(job: JobStatus) -> bool:
    """A failed job that did not end item by item (its error is not "every item failed")."""
    if job.state != JobState.FAILED:
        return False
    report = job.report or {}
    every_item = report.get("seen") and report.get("failed") == report.get("seen")
    return not (every_item and (job.error or "").startswith("every item failed"))


def retry_spec(job: JobStatus) -> JobSpec:
    """The job that runs ``job``'s failed items again (the whole job when it failed as a whole,
    or when its report could not list every failure); ``ConflictError`` while it runs or when
    nothing failed, or when an upload's failed files were not kept."""
    if job.state in _ACTIVE:
        raise ConflictError(
            f"job {job.id} is still {job.state.value}: wait for it to end (or cancel it), "
            "then retry its failures"
        )
    letters = dead_letters(job)
    if not letters.retryable:
        raise ConflictError(f"job {job.id} has no failed items to retry")
    only = job.spec.only
    if not letters.whole_job and letters.failed <= len(letters.failures):
        only = sorted({str(f.get("source", "")) for f in letters.failures})
    spec = job.spec.model_copy(
        update={"retry_of": job.id, "only": only, "prune": job.spec.prune and only is None}
    )
    if spec.kind == "upload":
        _check_staged(spec, job.id)
    return spec


def narrowed(source: Source, only: list[str] | None) -> Source:
    """``source`` with only the entries named in ``only`` (``None``: all of it); never pruned
    when narrowed."""
    if only is None:
        return source
    names = set(only)
    kept = (entry for entry in source.items if _name(entry) in names)
    return Source(source.root, kept, prunable=False)


def failures_by_source(
    jobs: Jobs, source: str, tenant: str | None = None, limit: int = 50
) -> list[DeadLetters]:
    """The dead letters of the recent jobs (at most ``limit`` looked at) of the synced source
    ``source``, newest first; only the jobs with something that failed."""
    letters = (dead_letters(job) for job in jobs.jobs(limit=limit, tenant=tenant))
    return [d for d in letters if d.source == source and (d.whole_job or d.failed)]


def _name(entry: object) -> str | None:
    if isinstance(entry, SourceItem):
        return entry.display
    if isinstance(entry, ItemError):
        return entry.source
    if isinstance(entry, Unreadable):
        return entry.error.source
    return None  # an Ignored file: not an item


def _check_staged(spec: JobSpec, job_id: str) -> None:
    """Uploads keep no file that no point needs once their job ended: refuse a retry whose
    files are gone."""
    items = narrowed(upload_source(spec.items), spec.only).items
    files = [f for i in items if isinstance(i, SourceItem) for f in (i.image_file, i.document_file)]
    missing = [f for f in files if f is not None and not Path(f).is_file()]
    if missing:
        raise ConflictError(
            f"the uploaded files of {len(missing)} failed item(s) of job {job_id} were not kept "
            "after it ended: upload them again (its failures list them)"
        )

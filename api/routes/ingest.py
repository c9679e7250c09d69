"""``POST /v1/ingest`` (queue items, 202) and ``GET /v1/ingest/{job_id}`` (progress and report).

Images are checked and saved before the answer, so bad ones are reported at once; the rest is
embedded and written by the ingest worker (in this process in embedded mode).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import sees_job
from api.deps import PrincipalDep, ServicesDep
from api.errors import error_response
from api.jobs import QueueDep, visible_job
from api.schemas.ingest import (
    IngestAcceptedOut,
    IngestItemIn,
    JobListOut,
    JobOut,
    RejectedOut,
)
from api.server_paths import paths_spec, wants_paths
from api.uploads import uploads_from_form, uploads_from_json
from ingest.cleanup import discard_files, paths_of, pending_paths
from ingest.dead_letters import can_retry
from ingest.queue import Jobs
from ingest.specs import JobSpec, JobState, JobStatus
from ingest.uploads import StagedUploads, Upload, stage_uploads
from rag.errors import InvalidInputError

router = APIRouter(prefix="/v1", tags=["ingest"])

MULTIPART_DOC = {
    "type": "object",
    "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "texts": {"type": "array", "items": {"type": "string"}},
        "ids": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "array", "items": {"type": "string", "description": "JSON object"}},
        "policy": {"type": "string", "enum": ["skip", "overwrite"]},
    },
}
JSON_DOC = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": IngestItemIn.model_json_schema()},
        "paths": {"type": "array", "items": {"type": "string"}, "description": "Server paths."},
        "prune": {"type": "boolean"},
        "collection": {"type": "string", "pattern": "^[A-Za-z0-9_\\-]{1,64}$"},
        "policy": {"type": "string", "enum": ["skip", "overwrite"]},
    },
}
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": MULTIPART_DOC},
            "application/json": {"schema": JSON_DOC},
        },
    }
}


@router.post(
    "/ingest",
    status_code=202,
    response_model=IngestAcceptedOut,
    openapi_extra=REQUEST_BODY,
)
async def ingest(
    request: Request, services: ServicesDep, queue: QueueDep, principal: PrincipalDep
) -> JSONResponse:
    """Queue items for ingest; answers 202 with the job id, and the items refused at once.

    Multipart: item ``i`` is ``files[i]`` (an image), ``texts[i]``, ``ids[i]`` and
    ``metadata[i]`` (a JSON object), each optional. JSON: ``{"items": [{"image": base64,
    "text", "id", "metadata"}]}``. 400 when every item was refused. Server folders, manifests
    and documents: ``{"paths": ["/srv/photos"], "prune": false}``, only under
    ``MMRAG_INGEST__ROOTS`` (400 otherwise), as the key's tenant; another ``collection`` than
    the server's needs an admin key (403).
    """
    if _is_json(request) and wants_paths(raw := await request.body()):
        spec = await run_in_threadpool(paths_spec, raw, services.settings, principal)
        job_id = await run_in_threadpool(queue.submit, spec)
        accepted = IngestAcceptedOut(
            job_id=job_id, status_url=f"/v1/ingest/{job_id}", accepted=len(spec.paths), rejected=[]
        )
        return JSONResponse(accepted.model_dump(), status_code=202)
    uploads, policy = await _read(request)
    staged = await run_in_threadpool(stage_uploads, uploads, services.settings, principal.tenant)
    rejected = [
        RejectedOut(index=e.index, source=e.source, reason=e.reason) for e in staged.rejected
    ]
    if not staged.items:
        return _all_rejected(rejected)
    job_id = await run_in_threadpool(_submit, queue, staged, policy, principal.tenant)
    body = IngestAcceptedOut(
        job_id=job_id,
        status_url=f"/v1/ingest/{job_id}",
        accepted=len(staged.items),
        rejected=rejected,
    )
    return JSONResponse(body.model_dump(), status_code=202)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == (
        "application/json"
    )


async def _read(request: Request) -> tuple[list[Upload], str | None]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        async with request.form(max_files=1000, max_fields=4000) as form:
            return await uploads_from_form(form)
    if content_type == "application/json":
        return uploads_from_json(await request.body())
    raise InvalidInputError(
        f"send multipart/form-data or application/json, not {content_type or 'no content type'!r}"
    )


def _submit(queue: Jobs, staged: StagedUploads, policy: str | None, tenant: str | None) -> str:
    spec = JobSpec.for_uploads(staged.items, policy=policy, tenant=tenant)  # type: ignore[arg-type]
    return queue.submit(spec)


def _all_rejected(rejected: list[RejectedOut]) -> JSONResponse:
    reasons = "; ".join(f"{r.source}: {r.reason}" for r in rejected[:5])
    return error_response(
        400,
        "invalid_input",
        f"no item was accepted: {reasons}",
        rejected=[r.model_dump() for r in rejected],
    )


@router.get("/ingest/{job_id}")
def ingest_job(job_id: str, queue: QueueDep, principal: PrincipalDep) -> JobOut:
    """A job's state (queued, running, done, failed, cancelled), progress and final report."""
    return job_out(visible_job(queue, job_id, principal))


@router.get("/ingest")
def ingest_jobs(
    queue: QueueDep, principal: PrincipalDep, limit: int = Query(default=20, ge=1, le=200)
) -> JobListOut:
    """The caller's tenant's most recent jobs, newest first (a ``*`` key: every tenant's)."""
    jobs = queue.jobs(limit=limit, tenant=principal.tenant)
    return JobListOut(jobs=[job_out(job) for job in jobs if sees_job(principal, job.spec.tenant)])


@router.delete("/ingest/{job_id}")
def cancel_ingest_job(
    job_id: str, queue: QueueDep, principal: PrincipalDep, request: Request
) -> JobOut:
    """Cancel a job: a queued one at once, a running one after its current batch."""
    visible_job(queue, job_id, principal)
    job = queue.cancel(job_id)
    if job.state == JobState.CANCELLED and job.spec.kind == "upload":  # queued: nobody ran it
        keep = pending_paths(queue, skip_job=job.id, tenant=job.spec.tenant)
        base = request.app.state.services
        store = base.store_for(job.spec.collection)
        discard_files(paths_of(job.spec), store, base.settings.files_dir, keep)
    return job_out(job)


def job_out(job: JobStatus) -> JobOut:
    """The public view of a job (server paths of staged files left out)."""
    spec = job.spec
    return JobOut(
        id=job.id,
        state=job.state,
        items=len(spec.items) if spec.kind == "upload" else len(spec.paths),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        progress=job.progress,
        report=job.report,
        error=job.error,
        retry_of=spec.retry_of,
        retryable=can_retry(job),
    )

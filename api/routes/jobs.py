"""``GET /v1/jobs/{job_id}/failures`` (a job's dead letters) and ``POST /v1/jobs/{job_id}/retry``
(a new job that runs them again), for the caller's tenant's jobs only."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep
from api.jobs import QueueDep, visible_job
from api.schemas.common import ErrorOut
from api.schemas.jobs import FailureOut, FailuresOut, RetryOut
from ingest.dead_letters import can_retry, dead_letters, retry_spec

router = APIRouter(prefix="/v1/jobs", tags=["ingest"])


@router.get("/{job_id}/failures")
def job_failures(
    job_id: str,
    queue: QueueDep,
    principal: PrincipalDep,
    limit: int = Query(default=100, ge=1, le=1000),
) -> FailuresOut:
    """The items of an ended job that failed after their retries (reason, tries, transient or
    permanent), or the job's error when it failed as a whole. Empty while it runs."""
    job = visible_job(queue, job_id, principal)
    letters = dead_letters(job)
    return FailuresOut(
        job_id=letters.job_id,
        state=letters.state,
        source=letters.source,
        whole_job=letters.whole_job,
        error=letters.error,
        failed=letters.failed,
        failures=[FailureOut.model_validate(f) for f in letters.failures[:limit]],
        truncated=letters.failed > min(limit, len(letters.failures)),
        retryable=can_retry(job),
    )


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=RetryOut,
    responses={409: {"model": ErrorOut, "description": "The job runs, or nothing failed."}},
)
async def retry_job(job_id: str, queue: QueueDep, principal: PrincipalDep) -> JSONResponse:
    """Queue a new job that runs the failed items of job ``job_id`` again (all of the job when
    it failed as a whole); 202 with its id. The job keeps its report; the new one names it in
    ``retry_of``. 409 while the job runs, or when nothing failed."""
    job = await run_in_threadpool(visible_job, queue, job_id, principal)
    spec = await run_in_threadpool(retry_spec, job)
    new_id = await run_in_threadpool(queue.submit, spec)
    body = RetryOut(
        job_id=new_id,
        status_url=f"/v1/ingest/{new_id}",
        retry_of=job.id,
        items=None if spec.only is None else len(spec.only),
    )
    return JSONResponse(body.model_dump(), status_code=202)

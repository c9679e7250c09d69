"""The Redis-backed job queue: jobs in Redis hashes, tasks delivered by Dramatiq.

A job is planned by one worker (``mmrag.plan``: its sources cut into tasks of at most
``MMRAG_INGEST__TASK_ITEMS`` items), then each task (``mmrag.task``) runs on whichever worker
takes it. Dramatiq acknowledges a message only after its actor returns, and requeues the
unacknowledged messages of a worker whose heartbeat stops (``MMRAG_QUEUE__HEARTBEAT_TIMEOUT_S``):
a worker killed mid-task means the task runs again elsewhere. Point ids are deterministic, so a
rerun writes the same points (no duplicates), and a task counts once (a set of finished tasks).

Keys (``<ns>`` = ``MMRAG_QUEUE__NAMESPACE``)::

    <ns>:jobs                 sorted set of job ids by creation time
    <ns>:tenant:<t>:jobs      the same, of tenant ``t``'s jobs only
    <ns>:job:<id>             hash: spec, state, times, error, tasks, planned, cancel
    <ns>:job:<id>:task:<n>    the task's entries (JSON), deleted once it finished
    <ns>:job:<id>:progress    hash: task -> counters while it runs
    <ns>:job:<id>:reports     hash: task -> final report
    <ns>:job:<id>:done        set of finished tasks
    <ns>:job:<id>:running     hash: task -> the worker that last started it
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.middleware import Middleware, Retries

from ingest.cleanup import discard_files, paths_of, pending_paths
from ingest.jobs import every_item_failed, owner_id
from ingest.metrics import record_report
from ingest.report import IngestReport
from ingest.specs import JobSpec, JobState, JobStatus, Progress
from ingest.sync.run import finish_sync, plan_sync
from ingest.task_spans import TaskSpans
from ingest.tasks import Task, failed_task_report, plan_tasks, run_task, sum_reports
from rag.config import QueueSettings
from rag.errors import ConfigError, InvalidInputError, MmragError, NotFoundError
from rag.services import Services

log = logging.getLogger(__name__)

QUEUE_NAME = "mmrag-ingest"
PLAN_ACTOR = "mmrag.plan"
TASK_ACTOR = "mmrag.task"
_ENDED = {JobState.DONE.value, JobState.FAILED.value, JobState.CANCELLED.value}
_COUNTERS = ("seen", "written", "unchanged", "failed")


def make_broker(settings: QueueSettings) -> RedisBroker:
    """A Dramatiq broker on ``settings.url``: maintenance on every call, so a dead worker's
    messages return to the queue soon after its heartbeat timeout."""
    return RedisBroker(
        url=settings.url,
        namespace=f"{settings.namespace}-dramatiq",
        heartbeat_timeout=int(settings.heartbeat_timeout_s * 1000),
        maintenance_chance=MAINTENANCE_SCALE,
        middleware=[Retries(max_retries=3, min_backoff=500, max_backoff=10_000)],
    )


class RedisJobs:
    """The job API (create, status with progress, list, cancel) on Redis; also the bookkeeping
    the worker does while it runs tasks."""

    def __init__(self, settings: QueueSettings, broker: RedisBroker | None = None) -> None:
        if not settings.url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"MMRAG_QUEUE__URL={settings.url!r} is not a Redis URL (redis://host:6379/0)"
            )
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.url, decode_responses=True)
        self.broker = broker or make_broker(settings)
        self.broker.declare_queue(QUEUE_NAME)
        self._ns = settings.namespace

    @property
    def path(self) -> str:
        """Where the jobs live (for logs)."""
        return self.settings.url

    # --- the API's side -------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> str:
        """Record the job and queue its planning; returns the job's id."""
        if spec.prune:
            raise InvalidInputError(
                "prune is not available on the Redis queue (a task sees part of a folder); "
                "run the pruning ingest on one machine (MMRAG_QUEUE__URL empty)"
            )
        job_id = uuid.uuid4().hex
        fields = {"spec": spec.model_dump_json(), "state": JobState.QUEUED.value}
        with self._calls():
            pipe = self.redis.pipeline()
            pipe.hset(self._job(job_id), mapping={**fields, "created_at": _now()})
            pipe.zadd(self._key("jobs"), {job_id: time.time()})
            if spec.tenant is not None:
                pipe.zadd(self._tenant_jobs(spec.tenant), {job_id: time.time()})
            pipe.execute()
            self._send(PLAN_ACTOR, job_id)
        return job_id

    def get(self, job_id: str) -> JobStatus:
        """The job's status with its progress summed over its tasks."""
        with self._calls():
            data = self.redis.hgetall(self._job(job_id))
            if not data:
                raise NotFoundError(f"no ingest job {job_id!r}; list jobs to see the known ids")
            progress = self.redis.hgetall(self._job(job_id, "progress"))
            reports = self.redis.hgetall(self._job(job_id, "reports")) if _ended(data) else {}
        return _status(job_id, data, progress, reports)

    def jobs(
        self, limit: int = 50, state: JobState | None = None, tenant: str | None = None
    ) -> list[JobStatus]:
        """Jobs, newest first (optionally only those in ``state``, only ``tenant``'s)."""
        key = self._key("jobs") if tenant is None else self._tenant_jobs(tenant)
        with self._calls():
            ids = self.redis.zrevrange(key, 0, -1 if state else limit - 1)
        found = []
        for job_id in ids:
            try:
                job = self.get(job_id)
            except NotFoundError:
                continue
            if state is None or job.state == state:
                found.append(job)
            if len(found) >= limit:
                break
        return found

    def fail(self, job_id: str, error: str) -> None:
        """End the job as ``failed`` with ``error`` (unless it already ended)."""
        with self._calls():
            self._end(job_id, JobState.FAILED, error=error)

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job: its pending tasks are dropped, a running task stops after its batch."""
        self.get(job_id)
        with self._calls():
            self.redis.hset(self._job(job_id), "cancel", "1")
            self._end(job_id, JobState.CANCELLED)
        return self.get(job_id)

    # --- the worker's side ----------------------------------------------------------------

    def plan(self, job_id: str, task_items: int, work: JobSpec | None = None) -> None:
        """Cut the job into tasks and queue them (idempotent: a rerun rewrites the same
        tasks). ``work``: the spec to cut instead of the job's own (a sync's ingest)."""
        data = self.redis.hgetall(self._job(job_id))
        if not data or _ended(data):
            return
        self.redis.hsetnx(self._job(job_id), "started_at", _now())
        self._set_state(job_id, JobState.RUNNING)
        spec = work or JobSpec.model_validate_json(data["spec"])
        count = 0
        try:
            for task in plan_tasks(spec, task_items):
                self.redis.set(self._job(job_id, f"task:{task.index}"), task.to_json())
                self._send(TASK_ACTOR, job_id, task.index)
                count += 1
        except MmragError as exc:
            self._end(job_id, JobState.FAILED, error=str(exc))
            return
        self.redis.hset(self._job(job_id), mapping={"tasks": count, "planned": "1"})
        self.complete_if_done(job_id)

    def task(self, job_id: str, index: int) -> Task | None:
        """The task to run, or ``None`` when it needs no run (finished, job ended)."""
        state = self.redis.hget(self._job(job_id), "state")
        if state in _ENDED or self.redis.sismember(self._job(job_id, "done"), index):
            return None
        text = self.redis.get(self._job(job_id, f"task:{index}"))
        return None if text is None else Task.from_json(text)

    def spec(self, job_id: str) -> JobSpec:
        return JobSpec.model_validate_json(self.redis.hget(self._job(job_id), "spec") or "{}")

    def cancelled(self, job_id: str) -> bool:
        return self.redis.hget(self._job(job_id), "cancel") == "1"

    def running(self, job_id: str, index: int, owner: str) -> None:
        """Record which worker runs a task (the last one to start it)."""
        self.redis.hset(self._job(job_id, "running"), str(index), owner)

    def runners(self, job_id: str) -> dict[int, str]:
        """Which worker last started each task (``owner_id`` strings)."""
        return {int(k): v for k, v in self.redis.hgetall(self._job(job_id, "running")).items()}

    def task_progress(self, job_id: str) -> dict[int, Progress]:
        """Each task's latest counters."""
        rows = self.redis.hgetall(self._job(job_id, "progress"))
        return {int(k): Progress.model_validate_json(v) for k, v in rows.items()}

    def progress(self, job_id: str, index: int, report: IngestReport) -> None:
        """Record a running task's counters."""
        counters = Progress.of(report).model_dump_json()
        self.redis.hset(self._job(job_id, "progress"), str(index), counters)

    def task_done(self, job_id: str, index: int, report: dict[str, Any]) -> None:
        """Record a finished task's report (once), then end the job if it was the last."""
        pipe = self.redis.pipeline()
        pipe.hset(self._job(job_id, "reports"), str(index), json.dumps(report))
        pipe.hset(self._job(job_id, "progress"), str(index), _progress_json(report))
        pipe.sadd(self._job(job_id, "done"), index)
        pipe.delete(self._job(job_id, f"task:{index}"))  # its entries are not needed any more
        pipe.execute()
        self.complete_if_done(job_id)

    def complete_if_done(self, job_id: str) -> None:
        """End the job (``done``, or ``failed`` when every item failed) once every task
        finished."""
        data = self.redis.hgetall(self._job(job_id))
        if data.get("planned") != "1" or _ended(data):
            return
        if self.redis.scard(self._job(job_id, "done")) < int(data["tasks"]):
            return
        report = sum_reports(json.loads(r) for r in self.redis.hvals(self._job(job_id, "reports")))
        if report["seen"] and report["failed"] == report["seen"]:
            self._end(job_id, JobState.FAILED, error=every_item_failed(report))
        else:
            self._end(job_id, JobState.DONE)

    def close(self) -> None:
        self.redis.close()
        self.broker.close()

    # --- internals ------------------------------------------------------------------------

    def _send(self, actor: str, *args: Any) -> None:
        message = dramatiq.Message(
            queue_name=QUEUE_NAME, actor_name=actor, args=args, kwargs={}, options={}
        )
        self.broker.enqueue(message)

    def _set_state(self, job_id: str, state: JobState) -> None:
        script = self.redis.register_script(_SET_STATE_UNLESS_ENDED)
        script(keys=[self._job(job_id)], args=[state.value, "", "", *_ENDED])

    def _end(self, job_id: str, state: JobState, error: str = "") -> None:
        """Move the job to an end state once (the first end wins)."""
        script = self.redis.register_script(_SET_STATE_UNLESS_ENDED)
        script(keys=[self._job(job_id)], args=[state.value, _now(), error, *_ENDED])

    def _key(self, name: str) -> str:
        return f"{self._ns}:{name}"

    def _tenant_jobs(self, tenant: str) -> str:
        return self._key(f"tenant:{tenant}:jobs")

    def _job(self, job_id: str, part: str = "") -> str:
        return self._key(f"job:{job_id}" + (f":{part}" if part else ""))

    def _calls(self) -> _RedisCalls:
        return _RedisCalls(self.settings.url)


_SET_STATE_UNLESS_ENDED = """
local state = redis.call('hget', KEYS[1], 'state')
for i = 4, #ARGV do
  if state == ARGV[i] then return 0 end
end
redis.call('hset', KEYS[1], 'state', ARGV[1])
if ARGV[2] ~= '' then redis.call('hset', KEYS[1], 'finished_at', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('hset', KEYS[1], 'error', ARGV[3]) end
return 1
"""


class _RedisCalls:
    """Turns an unreachable Redis into a :class:`ConfigError` that names the setting."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if isinstance(exc, redis.ConnectionError):
            raise ConfigError(
                f"cannot reach the Redis job queue at {self.url}: {exc}; check MMRAG_QUEUE__URL"
            ) from None


class RedisWorker:
    """Runs planning and tasks from the Redis queue with the model and store of ``services``.

    Example::

        worker = RedisWorker(services)
        worker.start()        # Dramatiq consumer and worker threads
        worker.stop()         # the running task finishes first
    """

    def __init__(self, services: Services, threads: int = 1) -> None:
        self.services = services
        self.broker = make_broker(services.settings.queue)
        self.jobs = RedisJobs(services.settings.queue, self.broker)
        self.threads = threads
        self._stopping = threading.Event()
        self._worker: dramatiq.Worker | None = None
        self.broker.add_middleware(_WhenRetriesRunOut(self._gave_up), before=Retries)
        self.broker.add_middleware(TaskSpans(self.jobs.spec, self.owner))
        dramatiq.Actor(
            self._plan, broker=self.broker, actor_name=PLAN_ACTOR, queue_name=QUEUE_NAME,
            priority=0, options={},
        )  # fmt: skip
        dramatiq.Actor(
            self._task, broker=self.broker, actor_name=TASK_ACTOR, queue_name=QUEUE_NAME,
            priority=0, options={},
        )  # fmt: skip

    @property
    def owner(self) -> str:
        """``host|pid|nonce|name`` of this worker process."""
        return owner_id("redis-worker")

    def start(self) -> None:
        """Start consuming (background threads)."""
        # Poll every 100 ms (Dramatiq's default backs off to 1 s, an idle gap after each task);
        # prefetch one message: a killed worker holds one task, the others stay queued.
        worker = dramatiq.Worker(self.broker, worker_threads=self.threads, worker_timeout=100)
        worker.queue_prefetch = 1
        worker.start()
        self._worker = worker
        threading.Thread(target=self._beat, name="mmrag-redis-heartbeat", daemon=True).start()

    def run_forever(self) -> None:
        """Consume until :meth:`request_stop`."""
        log.info("ingest worker %s taking tasks from %s", self.owner, self.jobs.path)
        self.start()
        self._stopping.wait()

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to return (safe in a signal handler)."""
        self._stopping.set()

    def stop(self, timeout_s: float | None = 60.0) -> None:
        """Stop consuming (the running task finishes); the stores belong to ``Services``."""
        self.request_stop()
        if self._worker is not None:
            self._worker.stop(timeout=int((timeout_s or 600) * 1000))
            self._worker = None
        self.jobs.close()

    def _beat(self) -> None:
        """Keep this worker's Dramatiq heartbeat fresh while a long task runs (its consumer
        does not poll while the prefetched task is busy)."""
        interval = self.services.settings.queue.heartbeat_timeout_s / 4
        while not self._stopping.wait(interval):
            try:
                self.broker.do_qsize(QUEUE_NAME)
            except Exception as exc:  # Redis away: the next beat tries again
                log.warning("Redis heartbeat failed: %s", exc)

    def _plan(self, job_id: str) -> None:
        spec = self.jobs.spec(job_id)
        work = None
        if spec.kind == "sync":  # fetch and move here; the tasks ingest the source's folder
            try:
                work = plan_sync(self.services, spec)
            except MmragError as exc:
                self.jobs.fail(job_id, str(exc))
                return
        self.jobs.plan(job_id, self.services.settings.ingest.task_items, work)
        self._discard_if_ended(job_id)
        self._finish_sync_if_ended(job_id)

    def _task(self, job_id: str, index: int) -> None:
        task = self.jobs.task(job_id, index)
        if task is None:
            return
        sink = _TaskProgress(self.jobs, job_id, index)
        self.jobs.running(job_id, index, self.owner)
        spec = self.jobs.spec(job_id)
        store = self.services.for_tenant(spec.tenant).store_for(spec.collection)
        try:
            report = run_task(self.services, task, store, sink, sink.should_stop).to_dict()
        except MmragError as exc:
            report = failed_task_report(task, str(exc))
        except Exception as exc:
            log.exception("task %d of ingest job %s crashed", index, job_id)
            report = failed_task_report(task, f"unexpected error: {type(exc).__name__}: {exc}")
        record_report(report)
        if not report["stopped"]:
            self.jobs.task_done(job_id, index, report)
            self._discard_if_ended(job_id)
            self._finish_sync_if_ended(job_id)

    def _finish_sync_if_ended(self, job_id: str) -> None:
        """Once a sync job is done, delete what left its source and record the source's state
        (run by whichever worker ended it; a worker killed first leaves it to the next sync)."""
        job = self.jobs.get(job_id)
        if job.spec.kind != "sync" or job.state != JobState.DONE:
            return
        try:
            finish_sync(self.services, job.spec, job.report or {})
        except Exception:
            log.exception("could not finish the sync of ingest job %s", job_id)

    def _gave_up(self, message: MessageProxy, exception: BaseException) -> None:
        """A plan or task failed on every try (Dramatiq will not run it again): the job fails
        with the reason, instead of staying ``running``."""
        job_id = str(message.args[0])
        what = "planning" if message.actor_name == PLAN_ACTOR else f"task {message.args[1]}"
        tries = message.options.get("retries", 0)
        reason = f"{what} failed {tries} times; the last error: {type(exception).__name__}: "
        log.error("ingest job %s failed: %s%s", job_id, reason, exception)
        self.jobs.fail(job_id, f"{reason}{exception}")
        self._discard_if_ended(job_id)

    def _discard_if_ended(self, job_id: str) -> None:
        """Once the job ended (done, failed, cancelled), delete its staged files that no point
        and no other job of its tenant needs."""
        try:
            job = self.jobs.get(job_id)
            if job.spec.kind != "upload" or job.state.value not in _ENDED:
                return
            keep = pending_paths(self.jobs, skip_job=job_id, tenant=job.spec.tenant)
            store = self.services.store_for(job.spec.collection)
            discard_files(paths_of(job.spec), store, self.services.settings.files_dir, keep)
        except Exception:
            log.exception("could not clean the uploads of ingest job %s", job_id)


class _WhenRetriesRunOut(Middleware):
    """Calls ``gave_up(message, exception)`` when Dramatiq's :class:`Retries` gives a message
    up (added before ``Retries``, so it runs after it)."""

    def __init__(self, gave_up: Callable[[MessageProxy, BaseException], None]) -> None:
        self.gave_up = gave_up

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None and message.failed:
            self.gave_up(message, exception)


class _TaskProgress:
    """Writes a task's counters after each batch; notices a cancelled job."""

    def __init__(self, jobs: RedisJobs, job_id: str, index: int) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.index = index
        self.cancelled = False

    def update(self, report: IngestReport) -> None:
        self.jobs.progress(self.job_id, self.index, report)
        self.cancelled = self.cancelled or self.jobs.cancelled(self.job_id)

    def should_stop(self) -> bool:
        return self.cancelled


def _status(
    job_id: str, data: dict[str, str], progress: dict[str, str], reports: dict[str, str]
) -> JobStatus:
    counters = dict.fromkeys(_COUNTERS, 0)
    for text in progress.values():
        for name, value in json.loads(text).items():
            counters[name] = counters.get(name, 0) + value
    report = sum_reports(json.loads(r) for r in reports.values()) if _ended(data) else None
    return JobStatus(
        id=job_id,
        state=JobState(data["state"]),
        spec=JobSpec.model_validate_json(data["spec"]),
        created_at=data["created_at"],
        started_at=data.get("started_at") or None,
        finished_at=data.get("finished_at") or None,
        progress=Progress(**counters),
        report=report,
        error=data.get("error") or None,
        cancel_requested=data.get("cancel") == "1",
        tasks=int(data["tasks"]) if data.get("planned") == "1" else None,
    )


def _progress_json(report: dict[str, Any]) -> str:
    return json.dumps({name: report.get(name, 0) for name in _COUNTERS})


def _ended(data: dict[str, str]) -> bool:
    return data.get("state") in _ENDED


def _now() -> str:
    return datetime.now(UTC).isoformat()

"""Spans of the Redis queue's work (a real redis-server, the real worker in this process): one
``ingest.plan`` and one ``ingest.task`` per task, each joined to the trace the job was queued in
and carrying the job id, the task's index and the worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ingest.redis_queue import RedisJobs, RedisWorker
from ingest.specs import JobSpec, JobState
from rag import tracing
from rag.config import QueueSettings, Settings
from rag.services import Services
from tests.ingest.draw import captioned_folder

TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "10f067aa0ba902b7"


@pytest.fixture
def exporter(settings: Settings) -> Iterator[InMemorySpanExporter]:
    collected = InMemorySpanExporter()
    assert tracing.start(settings, exporter=collected)
    yield collected
    tracing.stop()


def test_redis_plans_and_tasks_are_spans_in_the_trace_the_job_was_queued_in(
    make_services, redis_url: str, folder: Path, exporter: InMemorySpanExporter
) -> None:
    services: Services = make_services(task_items=2, batch_size=2)
    services.settings.queue = QueueSettings(url=redis_url, heartbeat_timeout_s=2)
    captioned_folder(folder, 5)
    jobs = RedisJobs(services.settings.queue)
    worker = RedisWorker(services)
    try:
        queued_in = {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
        job_id = jobs.submit(JobSpec(paths=[str(folder)], trace=queued_in))
        worker.start()
        deadline = time.monotonic() + 60
        while jobs.get(job_id).state != JobState.DONE:
            assert time.monotonic() < deadline, jobs.get(job_id)
            time.sleep(0.05)
    finally:
        worker.stop(timeout_s=10)
        jobs.close()
    spans = exporter.get_finished_spans()
    plans = [s for s in spans if s.name == "ingest.plan"]
    tasks = sorted(
        (s for s in spans if s.name == "ingest.task"), key=lambda s: s.attributes["mmrag.task"]
    )
    assert len(plans) == 1 and [t.attributes["mmrag.task"] for t in tasks] == [0, 1, 2]
    for span in [*plans, *tasks]:
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.parent is not None and format(span.parent.span_id, "016x") == CALLER_SPAN
        assert span.attributes["mmrag.job_id"] == job_id
        assert span.attributes["mmrag.worker"] == worker.owner
    assert sum(t.attributes["mmrag.items.written"] for t in tasks) == 5
    task_ids = {t.context.span_id for t in tasks}
    batches = [s for s in spans if s.name == "ingest.batch"]
    assert batches and all(b.parent is not None and b.parent.span_id in task_ids for b in batches)

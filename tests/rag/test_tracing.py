"""rag.tracing on the real OpenTelemetry SDK (in-memory exporter): a stage span of work that
ended is a child of the current span with the caller's timing, made like the SDK's own spans;
it follows its parent's sampling (``OTEL_TRACES_SAMPLER``); a failed stage records its error;
a span block records an exception and restores the context, and records what the SDK's own span
records; ``batch`` exports on a thread of its own."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rag import tracing
from rag.config import Settings

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    collected = InMemorySpanExporter()
    tracing.stop()
    assert tracing.start(Settings(_env_file=None), service="svc", exporter=collected)
    yield collected
    tracing.stop()


def test_a_finished_stage_is_a_child_of_the_current_span_made_as_the_sdk_makes_spans(
    exporter: InMemorySpanExporter,
) -> None:
    with tracing.span("request", attributes={"a": 1}):
        tracing.finished("search.fuse", 0.25, {"mmrag.items": 3})
        tracing.finished("search.hits", 0.5)
    fuse, hits, request = exporter.get_finished_spans()
    for stage in (fuse, hits):
        assert stage.parent == request.context
        assert stage.context.trace_id == request.context.trace_id
        assert stage.context.trace_flags == request.context.trace_flags
        assert stage.context.is_valid and not stage.context.is_remote
        assert stage.resource.attributes["service.name"] == "svc"
        assert stage.instrumentation_scope is not None
        assert stage.instrumentation_scope.name == request.instrumentation_scope.name
        assert stage.kind is trace.SpanKind.INTERNAL
    assert len({fuse.context.span_id, hits.context.span_id, request.context.span_id}) == 3
    assert (fuse.name, dict(fuse.attributes)) == ("search.fuse", {"mmrag.items": 3})
    assert fuse.end_time - fuse.start_time == 250_000_000  # type: ignore[operator]
    assert hits.end_time - hits.start_time == 500_000_000  # type: ignore[operator]


def test_a_finished_stage_without_a_current_span_starts_its_own_trace(
    exporter: InMemorySpanExporter,
) -> None:
    tracing.finished("search.embed", 0.001)
    (alone,) = exporter.get_finished_spans()
    assert alone.parent is None and alone.context.is_valid


def test_stages_inside_an_unsampled_request_record_nothing(
    exporter: InMemorySpanExporter,
) -> None:
    with tracing.span("request", parent={"traceparent": TRACEPARENT.format(flags="00")}) as span:
        assert span is not None and not span.is_recording()
        tracing.finished("search.fuse", 0.001)
    assert exporter.get_finished_spans() == ()
    with tracing.span("request", parent={"traceparent": TRACEPARENT.format(flags="01")}):
        tracing.finished("search.fuse", 0.001)
    assert [s.name for s in exporter.get_finished_spans()] == ["search.fuse", "request"]


def test_the_otel_traces_sampler_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    collected = InMemorySpanExporter()
    tracing.stop()
    assert tracing.start(Settings(_env_file=None), exporter=collected)
    try:
        for _ in range(20):
            with tracing.span("request"):
                tracing.finished("search.fuse", 0.001)
    finally:
        tracing.stop()
    assert collected.get_finished_spans() == ()


def test_a_failed_stage_records_its_error(exporter: InMemorySpanExporter) -> None:
    with tracing.span("request"):
        tracing.finished("search.candidates", 0.01, error=ValueError("bad filter"))
    failed, request = exporter.get_finished_spans()
    assert failed.parent == request.context
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert failed.status.description == "ValueError: bad filter"
    assert [e.name for e in failed.events] == ["exception"]


def test_a_span_block_records_an_exception_ends_the_span_and_restores_the_context(
    exporter: InMemorySpanExporter,
) -> None:
    before = trace.get_current_span()
    with pytest.raises(RuntimeError), tracing.span("ingest.job", attributes={"mmrag.job_id": "j"}):
        assert trace.get_current_span() is not before
        raise RuntimeError("disk full")
    assert trace.get_current_span() is before
    (job,) = exporter.get_finished_spans()
    assert job.end_time is not None and job.attributes["mmrag.job_id"] == "j"
    assert job.status.status_code is trace.StatusCode.ERROR
    assert job.status.description == "RuntimeError: disk full"
    assert [e.name for e in job.events] == ["exception"]


def _as_the_sdk_records(span: ReadableSpan) -> dict[str, object]:
    """What a span says, less what differs by run (ids, times, the stack trace's lines)."""
    events = [
        (e.name, {k: v for k, v in e.attributes.items() if k != "exception.stacktrace"})
        for e in span.events
    ]
    stacks = [e.attributes.get("exception.stacktrace", "") for e in span.events]
    return {
        "name": span.name,
        "kind": span.kind,
        "parent": span.parent,
        "trace flags": span.context.trace_flags,
        "trace state": span.context.trace_state,
        "remote": span.context.is_remote,
        "attributes": dict(span.attributes),
        "status": (span.status.status_code, span.status.description),
        "events": events,
        "stack ends with the error": [str(s).strip().splitlines()[-1:] for s in stacks],
        "resource": span.resource,
        "scope": span.instrumentation_scope,
        "links": tuple(span.links),
    }


@pytest.mark.parametrize("flags", [None, "01"])
@pytest.mark.parametrize("fails", [False, True])
def test_a_span_block_records_what_the_sdks_own_span_records(
    exporter: InMemorySpanExporter, flags: str | None, fails: bool
) -> None:
    parent = None if flags is None else {"traceparent": TRACEPARENT.format(flags=flags)}
    attributes = {"http.request.method": "POST", "mmrag.request_id": "r1"}

    def run(block) -> None:  # type: ignore[no-untyped-def]
        with contextlib.suppress(RuntimeError), block as span:
            span.update_name("POST /v1/search")
            span.set_attributes({"http.route": "/v1/search", "http.response.status_code": 200})
            span.set_attribute("mmrag.hits", 3)
            span.add_event("retrieved", {"n": 3})
            span.add_event("no attributes")
            if fails:
                raise RuntimeError("disk full")

    run(tracing.span("POST", parent, attributes, trace.SpanKind.SERVER))
    ctx = propagate.extract(parent) if parent else None
    assert tracing._tracer is not None
    run(tracing._tracer.start_as_current_span("POST", ctx, trace.SpanKind.SERVER, attributes))
    ours, sdks = exporter.get_finished_spans()
    assert type(ours) is type(sdks)
    assert _as_the_sdk_records(ours) == _as_the_sdk_records(sdks)
    assert ours.context.trace_id != sdks.context.trace_id or flags is not None
    assert ours.context.span_id != sdks.context.span_id
    assert ours.start_time <= ours.end_time <= sdks.start_time  # type: ignore[operator]


def test_a_span_ignores_what_comes_after_its_end_and_keeps_an_ok_status(
    exporter: InMemorySpanExporter,
) -> None:
    with tracing.span("request") as span:
        assert span is not None and span.is_recording()
        span.set_status(trace.StatusCode.OK)
        span.set_status(trace.StatusCode.ERROR, "late")  # an OK status stays
    span.set_attribute("after", 1)
    span.update_name("renamed")
    span.end()
    (done,) = exporter.get_finished_spans()
    assert not span.is_recording()
    assert (done.name, dict(done.attributes)) == ("request", {})
    assert done.status.status_code is trace.StatusCode.OK


class _Threads(InMemorySpanExporter):
    """Keeps the spans and the threads that exported them."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[threading.Thread] = set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.threads.add(threading.current_thread())
        return super().export(spans)


def test_batch_exports_on_a_thread_of_its_own_and_stop_sends_what_is_queued() -> None:
    collected = _Threads()
    tracing.stop()
    assert tracing.start(Settings(_env_file=None), exporter=collected, batch=True)
    try:
        with tracing.span("request"):
            tracing.finished("search.fuse", 0.001)
    finally:
        tracing.stop()
    assert [s.name for s in collected.get_finished_spans()] == ["search.fuse", "request"]
    assert collected.threads and threading.main_thread() not in collected.threads

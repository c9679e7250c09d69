"""rag.tracing on the real OpenTelemetry SDK (in-memory exporter): a stage span of work that
ended is a child of the current span with the caller's timing, made like the SDK's own spans;
it follows its parent's sampling (``OTEL_TRACES_SAMPLER``); a failed stage records its error;
a span block records an exception and restores the context; ``batch`` exports on a thread of
its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import trace
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

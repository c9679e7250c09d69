"""OpenTelemetry traces, off unless a collector is named: ``MMRAG_OTEL__ENDPOINT`` (or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) sends spans
over OTLP/HTTP; ``OTEL_SDK_DISABLED=true`` keeps them off. ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and ``OTEL_EXPORTER_OTLP_HEADERS`` are
honoured as the OpenTelemetry SDK reads them.

Spans: one per HTTP request (the API's middleware), one per search stage (recorded from the
timings the retriever keeps, so no stage is timed twice), one per LLM answer, one per ingest job
or task (carrying the job id, joined to the trace of the request that queued it) and one per
batch of items. Off, every function here returns at its first test: no tracer, no context lookup.

Cost on: spans go to a ``BatchSpanProcessor`` (the ``OTEL_BSP_*`` variables set its schedule), so
encoding and sending happen on its thread, not the request's. A span of work that already ended
(:func:`finished`, inside a sampled span of this process) is handed whole to that processor: its
parent already made the sampling decision, so the SDK's per-span path (sampler, context lookups,
a live span's locks, about 20-40 us a span on a loaded 2-core machine) is skipped; inside an
unsampled span it costs one context lookup and records nothing. A :func:`span` the sampler
samples is kept as plain values (:class:`_Recorded`) and handed whole when it ends; one it does
not sample is the SDK's own (non-recording) span.

Example::

    start(settings, service="mmrag-worker")      # once, at a process's start
    with span("ingest.job", parent=spec.trace, attributes={"mmrag.job_id": job_id}):
        ...
    finished("search.fuse", 0.0012)              # a stage that just ended, 1.2 ms long
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from rag.config import Settings

log = logging.getLogger(__name__)

Attributes = Mapping[str, str | int | float | bool]

_tracer: trace.Tracer | None = None
_provider: Any = None  # the SDK's TracerProvider while traces are on
_processor: Any = None  # its one span processor, which finished spans are handed to
_scope: Any = None  # the instrumentation scope ("mmrag") finished spans carry
_ended: Any = None  # the SDK's ReadableSpan: an ended span, as processors receive it
_Event: Any = None  # the SDK's span event (an exception recorded on a span)
_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()


def endpoint_of(settings: Settings) -> str | None:
    """The OTLP/HTTP traces URL that ``settings`` and the ``OTEL_*`` variables name, or ``None``
    (traces off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    base = settings.otel.endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if base:
        base = base.rstrip("/")
        return base if base.endswith("/v1/traces") else f"{base}/v1/traces"
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or None


def start(
    settings: Settings, service: str = "mmrag", exporter: Any = None, batch: bool = False
) -> bool:
    """Turn traces on when ``settings`` name a collector, or with ``exporter`` (a span exporter
    of the SDK, e.g. an in-memory one in tests: each span handed to it as it ends, or in
    batches on a thread of its own with ``batch``, as the OTLP exporter gets them); returns
    whether traces are on. Traces already on stay as they are."""
    global _tracer, _provider, _processor, _scope, _ended, _Event
    if _tracer is not None:
        return True
    url = endpoint_of(settings)
    if exporter is None and url is None:
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    if exporter is not None:
        _processor = (BatchSpanProcessor if batch else SimpleSpanProcessor)(exporter)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        _processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=url))
        log.info("traces: sending spans of %s to %s", name, url)
    provider.add_span_processor(_processor)
    _scope, _ended, _Event = InstrumentationScope("mmrag", "", ""), ReadableSpan, Event
    _provider, _tracer = provider, provider.get_tracer("mmrag")
    return True


def stop() -> None:
    """Send the spans still buffered and turn traces off."""
    global _tracer, _provider, _processor
    provider, _provider, _tracer, _processor = _provider, None, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    """Whether traces are on in this process."""
    return _tracer is not None


def span(
    name: str,
    parent: Mapping[str, str] | None = None,
    attributes: Attributes | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A span around the block, current inside it (``None`` when traces are off). ``parent``: a
    W3C carrier (``traceparent`` header, a job's :func:`carrier`) the span continues."""
    if _tracer is None:
        return _OFF
    return _Current(_tracer, name, parent, attributes, kind)


class _Current:
    """What ``tracer.start_as_current_span`` does (the span current inside the block, an
    exception recorded on it, ended on leaving), in two calls instead of three nested
    generator-based context managers: it wraps every request."""

    __slots__ = ("_args", "_span", "_token")

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        parent: Mapping[str, str] | None,
        attributes: Attributes | None,
        kind: trace.SpanKind,
    ) -> None:
        self._args = (tracer, name, parent, attributes, kind)

    def __enter__(self) -> trace.Span:
        tracer, name, parent, attributes, kind = self._args
        ctx = propagate.extract(parent) if parent else None
        self._span = _sampled(name, ctx, kind, attributes) or tracer.start_span(
            name, ctx, kind, attributes
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span, ctx))
        return self._span

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        otel_context.detach(self._token)
        if isinstance(error, Exception) and self._span.is_recording():
            self._span.record_exception(error)
            self._span.set_status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}")
        self._span.end()


_RANDOM_TRACE_ID: int = getattr(trace.TraceFlags, "RANDOM_TRACE_ID", 0)


def _sampled(
    name: str, ctx: otel_context.Context | None, kind: trace.SpanKind, attributes: Attributes | None
) -> _Recorded | None:
    """The span the SDK's ``start_span`` would start, as a :class:`_Recorded`, when the sampler
    samples it; ``None`` (the SDK's own path) when it does not, or traces were turned off."""
    provider, processor = _provider, _processor
    if provider is None or processor is None:
        return None
    parent: trace.SpanContext | None = trace.get_current_span(ctx).get_span_context()
    ids = provider.id_generator
    if parent is None or not parent.is_valid:
        trace_id = ids.generate_trace_id()
        random_check = getattr(ids, "is_trace_id_random", None)  # the W3C flag: newer SDKs
        parent, random_id = None, bool(random_check()) if random_check is not None else False
    else:
        trace_id = parent.trace_id
        random_id = getattr(parent.trace_flags, "random_trace_id", False)
    result = provider.sampler.should_sample(ctx, trace_id, name, kind, attributes, ())
    if not result.decision.is_sampled():
        return None
    flags = trace.TraceFlags.SAMPLED | (_RANDOM_TRACE_ID if random_id else 0)
    own = trace.SpanContext(
        trace_id,
        ids.generate_span_id(),
        is_remote=False,
        trace_flags=trace.TraceFlags(flags),
        trace_state=result.trace_state,
    )
    return _Recorded(name, own, parent, kind, dict(result.attributes or {}), provider, processor)


class _Recorded(trace.Span):
    """A sampled span kept as plain values and handed whole to the span processor when it
    ends: what the SDK's span records (attributes, events, status, name), without its lock,
    limits and per-call checks (this wraps every request; a request sets a handful of
    attributes). ``tests/rag/test_tracing.py`` checks it against the span the SDK makes."""

    def __init__(
        self,
        name: str,
        context: trace.SpanContext,
        parent: trace.SpanContext | None,
        kind: trace.SpanKind,
        attributes: dict[str, Any],
        provider: Any,
        processor: Any,
    ) -> None:
        self._name, self._context, self._parent, self._kind = name, context, parent, kind
        self._attributes = attributes
        self._events: list[Any] = []
        self._status = trace.Status(trace.StatusCode.UNSET)
        self._resource, self._processor = provider.resource, processor
        self._start = time.time_ns()
        self._end: int | None = None

    def get_span_context(self) -> trace.SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self._end is None:
            self._attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        if self._end is None:
            self._attributes[key] = value

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        if self._end is None:
            self._events.append(_Event(name, dict(attributes or {}), timestamp))

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def set_status(
        self, status: trace.Status | trace.StatusCode, description: str | None = None
    ) -> None:
        if self._end is not None or self._status.status_code is trace.StatusCode.OK:
            return  # as the SDK: an OK status stays
        if isinstance(status, trace.StatusCode):
            status = trace.Status(status, description)
        if status.status_code is not trace.StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        recorded: dict[str, Any] = {
            "exception.type": f"{module}.{kind.__qualname__}"
            if module and module != "builtins"
            else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        recorded.update(attributes or {})
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end_time if end_time is not None else time.time_ns()
        self._processor.on_end(
            _ended(
                self._name,
                self._context,
                self._parent,
                self._resource,
                self._attributes,
                tuple(self._events),
                (),
                self._kind,
                status=self._status,
                start_time=self._start,
                end_time=self._end,
                instrumentation_scope=_scope,
            )
        )


def finished(
    name: str,
    seconds: float,
    attributes: Attributes | None = None,
    error: BaseException | None = None,
) -> None:
    """Record a child of the current span for work that just ended and took ``seconds``
    (measured by the caller once: the span reuses that timing)."""
    if _tracer is None:
        return
    parent = trace.get_current_span().get_span_context()
    if error is None and parent.is_valid and not parent.is_remote:
        if parent.trace_flags.sampled:  # a child's sampling follows its parent's
            _hand_over(name, seconds, parent, attributes)
        return
    end = time.time_ns()
    done = _tracer.start_span(name, start_time=end - int(seconds * 1e9), attributes=attributes)
    if error is not None:
        done.record_exception(error)
        done.set_status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}")
    done.end(end_time=end)


def _hand_over(
    name: str, seconds: float, parent: trace.SpanContext, attributes: Attributes | None
) -> None:
    """The ended span as the SDK would have made it (a new span id in the parent's trace, its
    flags and trace state), handed to the span processor."""
    provider, processor = _provider, _processor
    if provider is None or processor is None:  # traces turned off meanwhile
        return
    end = time.time_ns()
    own = trace.SpanContext(
        parent.trace_id,
        provider.id_generator.generate_span_id(),
        is_remote=False,
        trace_flags=parent.trace_flags,
        trace_state=parent.trace_state,
    )
    done = _ended(
        name,
        own,
        parent,
        provider.resource,
        dict(attributes) if attributes else None,
        start_time=end - int(seconds * 1e9),
        end_time=end,
        instrumentation_scope=_scope,
    )
    processor.on_end(done)


def annotate(attributes: Attributes) -> None:
    """Add ``attributes`` to the current span (nothing when traces are off)."""
    if _tracer is not None:
        trace.get_current_span().set_attributes(attributes)


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``), for work done elsewhere (a
    queued job) to join this trace; empty when traces are off or no span is current."""
    if _tracer is None:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def log_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span in hex, for log lines; ``None`` without one."""
    if _tracer is None:
        return None
    found = trace.get_current_span(otel_context.get_current()).get_span_context()
    if not found.is_valid:
        return None
    return format(found.trace_id, "032x"), format(found.span_id, "016x")

"""OpenTelemetry traces, off unless a collector is named: ``MMRAG_OTEL__ENDPOINT`` (or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) sends spans
over OTLP/HTTP; ``OTEL_SDK_DISABLED=true`` keeps them off. ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and ``OTEL_EXPORTER_OTLP_HEADERS`` are
honoured as the OpenTelemetry SDK reads them.

Spans: one per HTTP request (the API's middleware), one per search stage (recorded from the
timings the retriever keeps, so no stage is timed twice), one per LLM answer, one per ingest job
or task (carrying the job id, joined to the trace of the request that queued it) and one per
batch of items. Off, every function here returns at its first test: no tracer, no context lookup.

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
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from rag.config import Settings

log = logging.getLogger(__name__)

Attributes = Mapping[str, str | int | float | bool]

_tracer: trace.Tracer | None = None
_provider: Any = None  # the SDK's TracerProvider while traces are on
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


def start(settings: Settings, service: str = "mmrag", exporter: Any = None) -> bool:
    """Turn traces on when ``settings`` name a collector, or with ``exporter`` (a span exporter
    of the SDK, e.g. an in-memory one in tests); returns whether traces are on. Traces already
    on stay as they are."""
    global _tracer, _provider
    if _tracer is not None:
        return True
    url = endpoint_of(settings)
    if exporter is None and url is None:
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        log.info("traces: sending spans of %s to %s", name, url)
    _provider, _tracer = provider, provider.get_tracer("mmrag")
    return True


def stop() -> None:
    """Send the spans still buffered and turn traces off."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
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
    return _current(_tracer, name, parent, attributes, kind)


@contextlib.contextmanager
def _current(
    tracer: trace.Tracer,
    name: str,
    parent: Mapping[str, str] | None,
    attributes: Attributes | None,
    kind: trace.SpanKind,
) -> Iterator[trace.Span]:
    ctx = propagate.extract(parent) if parent else None
    with tracer.start_as_current_span(name, ctx, kind, attributes) as current:
        yield current


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
    end = time.time_ns()
    done = _tracer.start_span(name, start_time=end - int(seconds * 1e9), attributes=attributes)
    if error is not None:
        done.record_exception(error)
        done.set_status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}")
    done.end(end_time=end)


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

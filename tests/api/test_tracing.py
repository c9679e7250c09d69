"""Traces through the real app over a socket, collected by the SDK's in-memory exporter: a span
per request continuing the caller's trace, one child per search stage whose length is the
stage's own timing, the LLM call, the ingest job (the job id, in the trace of the request that
queued it) and its batches; JSON log lines carry the trace id; the settings that turn traces
on."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.main import create_app
from rag import tracing
from rag.config import load_settings
from rag.errors import MmragError
from rag.log_format import JsonFormatter, request_scope
from rag.services import Services
from tests.api.conftest import add_item, png_bytes

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture(scope="module")
def traced(
    make_settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, InMemorySpanExporter, Services]]:
    """The real app on a socket with traces on (in-memory exporter)."""
    exporter = InMemorySpanExporter()
    data = tmp_path_factory.mktemp("data")
    settings = make_settings(data, ingest={"batch_size": 2}, passage={"model": "none"})
    assert tracing.start(settings, exporter=exporter)
    services = Services(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(services=services), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", exporter, services
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()
        tracing.stop()


def _hex(span: ReadableSpan) -> tuple[str, str]:
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def test_a_search_continues_the_callers_trace_with_one_span_per_stage_from_its_timings(
    traced: tuple[str, InMemorySpanExporter, Services], tmp_path: Path
) -> None:
    url, exporter, services = traced
    add_item(services, tmp_path, "a red square", (200, 30, 30))
    add_item(services, tmp_path, "a blue circle", (30, 30, 200))
    exporter.clear()
    headers = {"traceparent": TRACEPARENT, "X-Request-ID": "req-42"}
    response = httpx.post(f"{url}/v1/search", json={"text": "red square"}, headers=headers)
    assert response.status_code == 200, response.text
    spans = list(exporter.get_finished_spans())
    request = _one(spans, "POST /v1/search")
    assert _hex(request)[0] == TRACE_ID
    assert request.parent is not None and format(request.parent.span_id, "016x") == CALLER_SPAN
    assert request.attributes["mmrag.request_id"] == "req-42"
    assert request.attributes["http.route"] == "/v1/search"
    assert request.attributes["http.response.status_code"] == 200
    stages = {s.name: s for s in _children(spans, request)}
    assert sorted(stages) == sorted(
        ["search.embed", "search.candidates", "search.fuse", "search.get", "search.hits"]
    )

    def seconds(*names: str) -> float:
        return sum((stages[n].end_time - stages[n].start_time) / 1e9 for n in names)  # type: ignore[operator]

    timings = response.json()["timings"]  # the same measurement, not a second clock
    assert seconds("search.embed") == pytest.approx(timings["encode"], abs=1e-6)
    assert seconds("search.candidates", "search.get") == pytest.approx(timings["store"], abs=1e-6)
    assert seconds("search.fuse", "search.hits") == pytest.approx(timings["fuse"], abs=1e-6)


def test_a_chat_answer_has_a_span_for_the_llm_call(
    traced: tuple[str, InMemorySpanExporter, Services], tmp_path: Path
) -> None:
    url, exporter, services = traced
    add_item(services, tmp_path, "the green triangle is on the left", (30, 200, 30))
    exporter.clear()
    response = httpx.post(f"{url}/v1/chat", json={"question": "where is the green triangle?"})
    assert response.status_code == 200, response.text
    spans = list(exporter.get_finished_spans())
    request = _one(spans, "POST /v1/chat")
    llm = _one(spans, "llm.generate")
    assert llm.parent is not None and llm.parent.span_id == request.context.span_id
    assert llm.attributes["gen_ai.system"] == "extractive"
    assert "search.candidates" in {s.name for s in _children(spans, request)}


def test_an_ingest_job_joins_the_trace_of_the_request_that_queued_it(
    traced: tuple[str, InMemorySpanExporter, Services],
) -> None:
    url, exporter, _ = traced
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    worker_log = logging.getLogger("ingest.worker")
    worker_log.addHandler(handler)
    old_level = worker_log.level
    worker_log.setLevel(logging.INFO)
    exporter.clear()
    try:
        files = [
            ("files", (f"p{n}.png", png_bytes((n * 60, 90, 40)), "image/png")) for n in range(3)
        ]
        data = {"texts": [f"picture {n}" for n in range(3)]}
        response = httpx.post(f"{url}/v1/ingest", files=files, data=data)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 120
        while (status := httpx.get(f"{url}/v1/ingest/{job_id}").json())["state"] != "done":
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        while not any(s.name == "ingest.job" for s in exporter.get_finished_spans()):
            assert time.monotonic() < deadline  # the job's span ends just after it shows done
            time.sleep(0.05)
    finally:
        worker_log.removeHandler(handler)
        worker_log.setLevel(old_level)
    spans = list(exporter.get_finished_spans())
    request = _one(spans, "POST /v1/ingest")
    job = _one(spans, "ingest.job")
    assert job.attributes["mmrag.job_id"] == job_id
    assert job.parent is not None and job.parent.span_id == request.context.span_id
    assert _hex(job)[0] == _hex(request)[0]
    assert job.attributes["mmrag.items.written"] == 3
    assert job.attributes["mmrag.job.state"] == "done"
    batches = [s for s in _children(spans, job) if s.name == "ingest.batch"]
    assert [b.attributes["mmrag.items"] for b in batches] == [2, 1]
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    started = [line for line in logged if line["message"].startswith(f"ingest job {job_id}")]
    assert started and {line["trace_id"] for line in started} == {_hex(request)[0]}


def test_json_log_lines_carry_the_request_id_and_the_trace_and_span_ids() -> None:
    exporter = InMemorySpanExporter()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "searched", None, None)
    from rag.config import Settings

    tracing.start(Settings(_env_file=None), exporter=exporter)
    try:
        with request_scope("req-7"), tracing.span("work") as span:
            line = json.loads(JsonFormatter().format(record))
        assert span is not None
        expected = format(span.get_span_context().trace_id, "032x")
        assert (line["request_id"], line["trace_id"]) == ("req-7", expected)
        assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    finally:
        tracing.stop()
    off = json.loads(JsonFormatter().format(record))
    assert "trace_id" not in off and "span_id" not in off


def test_the_settings_and_otel_variables_that_turn_traces_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rag.config import Settings

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    assert tracing.endpoint_of(Settings(_env_file=None)) is None
    assert not tracing.start(Settings(_env_file=None)) and not tracing.enabled()
    named = Settings(_env_file=None, otel={"endpoint": "http://collector:4318/"})
    assert tracing.endpoint_of(named) == "http://collector:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    assert tracing.endpoint_of(Settings(_env_file=None)) == "http://otel:4318/v1/traces"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://otel:4318/custom")
    assert tracing.endpoint_of(Settings(_env_file=None)) == "http://otel:4318/custom"
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.endpoint_of(named) is None
    monkeypatch.setenv("MMRAG_OTEL__ENDPOINT", "collector:4318")
    with pytest.raises(MmragError, match="MMRAG_OTEL__ENDPOINT"):
        load_settings()


def test_traces_off_install_no_middleware_and_carry_no_context(make_settings, tmp_path: Path):
    from api.tracing import TracingMiddleware
    from ingest.specs import JobSpec

    assert not tracing.enabled()
    services = Services(make_settings(tmp_path / "data"))
    try:
        app = create_app(services=services)
        assert TracingMiddleware not in [m.cls for m in app.user_middleware]
        assert not tracing.enabled()
        assert JobSpec(paths=["/srv/photos"]).trace == {}
        assert tracing.carrier() == {} and tracing.log_ids() is None
    finally:
        services.close()

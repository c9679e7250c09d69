"""A standalone worker (``python -m ingest``, a real process with no API): its Prometheus metrics on
``MMRAG_INGEST__METRICS_PORT``, and its spans sent over OTLP/HTTP to a collector named by
``MMRAG_OTEL__ENDPOINT`` (a stand-in collector here that decodes the real protobuf wire format),
joined to the trace the job was queued in and carrying the job id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from ingest.jobs import JobQueue, JobSpec, JobState
from tests.conftest import free_port
from tests.ingest.draw import captioned_folder

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def collector() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An OTLP/HTTP traces endpoint on a loopback port; yields its URL and the spans received
    (name, ids in hex, attributes, the sender's service name)."""
    spans: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    spans.extend(_span(s, service["service.name"]) for s in scope.spans)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", spans
    server.shutdown()


def _span(span: Any, service: str) -> dict[str, Any]:
    attributes = {}
    for attribute in span.attributes:
        value = attribute.value
        attributes[attribute.key] = getattr(value, value.WhichOneof("value"))
    return {
        "name": span.name,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent": span.parent_span_id.hex(),
        "attributes": attributes,
        "service": service,
    }


def _scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.slow
def test_a_standalone_worker_serves_its_metrics_and_sends_its_job_spans(
    tiny_env: dict[str, str],
    folder: Path,
    tmp_path: Path,
    collector: tuple[str, list[dict[str, Any]]],
) -> None:
    endpoint, spans = collector
    captioned_folder(folder, 3)
    queue = JobQueue(tmp_path / "data" / "jobs.sqlite3")
    queued_in = {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}  # as the API's request span
    job_id = queue.submit(JobSpec(paths=[str(folder)], batch_size=2, trace=queued_in))
    metrics_port = free_port()
    env = {
        **os.environ,
        **tiny_env,
        "PYTHONPATH": str(ROOT),
        "MMRAG_INGEST__METRICS_PORT": str(metrics_port),
        "MMRAG_OTEL__ENDPOINT": endpoint,
        "MMRAG_PASSAGE__MODEL": "none",  # CLIP alone: a shorter start on a loaded machine
    }
    for name in ("OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER"):
        env.pop(name, None)
    worker = subprocess.Popen([sys.executable, "-m", "ingest"], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 180
        while (status := queue.get(job_id)).state != JobState.DONE:
            assert worker.poll() is None, "the worker exited early"
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        samples = _scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        written = (("kind", "item"), ("outcome", "written"))
        assert samples[("mmrag_ingest_items_total", written)] == 3
        assert samples[("mmrag_ingest_runs_total", (("end", "ended"),))] == 1
        assert samples[("mmrag_ingest_seconds_total", ())] > 0
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    jobs = [s for s in spans if s["name"] == "ingest.job"]  # sent as the worker stopped
    assert len(jobs) == 1, [s["name"] for s in spans]
    job = jobs[0]
    assert (job["trace_id"], job["parent"]) == (TRACE_ID, CALLER_SPAN)
    assert job["attributes"]["mmrag.job_id"] == job_id
    assert job["attributes"]["mmrag.items.written"] == 3
    assert job["service"] == "mmrag-worker"
    batches = [s for s in spans if s["name"] == "ingest.batch" and s["parent"] == job["span_id"]]
    assert sorted(b["attributes"]["mmrag.items"] for b in batches) == [1, 2]


def test_a_worker_refuses_a_metrics_port_in_use(tiny_env: dict[str, str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, **tiny_env, "PYTHONPATH": str(ROOT)}
        env["MMRAG_INGEST__METRICS_PORT"] = str(port)
        result = subprocess.run(
            [sys.executable, "-m", "ingest"], env=env, cwd=tmp_path, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot serve metrics on port {port}" in result.stderr
    assert "MMRAG_INGEST__METRICS_PORT" in result.stderr

"""``GET /metrics`` for Prometheus, and what feeds it: requests and latency per route (an ASGI
middleware), search stages (the timings the retriever reports), generation (first-token time,
tokens), ingest (``ingest.metrics``), and at scrape time the queue depth, the models loaded and
the store's points. ``install_metrics(app)`` in the app factory wires all of it.

With API keys on, ``/metrics`` needs an admin key (Prometheus: ``authorization: {credentials:
KEY}``); labels carry route templates, never ids or text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Role
from api.jobs import job_queue
from api.request_ids import install_request_ids
from rag.answer import Answer, AnswerEvent, FinalEvent
from rag.services import Services

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REQUESTS = Counter(
    "mmrag_http_requests",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "mmrag_http_request_duration_seconds",
    "Time to the end of the response, by route.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
SEARCH_STAGE = Histogram(
    "mmrag_search_stage_seconds",
    "Seconds per search stage as the retriever reports them (encode, candidates, fuse, rerank...).",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
FIRST_TOKEN = Histogram(
    "mmrag_generation_first_token_seconds",
    "Seconds from the question to the answer's first token.",
    buckets=_LATENCY_BUCKETS,
)
GENERATION = Histogram(
    "mmrag_generation_seconds", "Seconds the LLM spent on one answer.", buckets=_LATENCY_BUCKETS
)
TOKENS = Counter(
    "mmrag_generation_tokens",
    "Tokens by kind (prompt, completion) and backend.",
    ["kind", "backend"],
)
STAGE_NAMES = frozenset(
    {"encode", "store", "candidates", "fuse", "diversify", "rerank", "retrieve", "total"}
)
"""Stages kept as labels; any other timing name counts as ``other`` (bounded label values)."""
_STAGE_SERIES = {name: SEARCH_STAGE.labels(name) for name in (*STAGE_NAMES, "other")}


AUDIT_GAP = Gauge(
    "mmrag_audit_gap",
    "Bias monitoring: best minus worst group of a figure (signal.figure), last run.",
    ["figure"],
)
AUDIT_QUALITY = Gauge(
    "mmrag_audit_quality",
    "Bias monitoring: the embedding-quality figures of the sampled collection, last run.",
    ["figure"],
)
AUDIT_ALERTS = Counter(
    "mmrag_audit_alerts",
    "Bias monitoring alerts: a gap past MMRAG_AUDIT__GAP_THRESHOLD (kind gap) or a quality "
    "figure drifted past MMRAG_AUDIT__DRIFT_THRESHOLD (kind drift).",
    ["kind", "figure"],
)
AUDIT_LAST_RUN = Gauge(
    "mmrag_audit_last_run_timestamp_seconds", "Bias monitoring: when the last run ended."
)


class MetricsMiddleware:
    """Counts each HTTP request and times it to its last byte, labelled by the matched route's
    template (``/v1/items/{item_id}``; ``unmatched`` for 404s of no route)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


def observe_search(timings: Mapping[str, float]) -> None:
    """Record a search's stage timings (seconds)."""
    for stage, seconds in timings.items():
        _STAGE_SERIES.get(stage, _STAGE_SERIES["other"]).observe(seconds)


def observe_answer(answer: Answer) -> Answer:
    """Record an answer's retrieval stages, first-token time, generation time and tokens."""
    timings = dict(answer.timings)
    if "first_token" in timings:
        FIRST_TOKEN.observe(timings.pop("first_token"))
    if "generate" in timings:
        GENERATION.observe(timings.pop("generate"))
    observe_search(timings)
    backend = answer.backend or "none"
    if answer.prompt_tokens:
        TOKENS.labels("prompt", backend).inc(answer.prompt_tokens)
    if answer.completion_tokens:
        TOKENS.labels("completion", backend).inc(answer.completion_tokens)
    return answer


def observed_events(events: Iterator[AnswerEvent]) -> Iterator[AnswerEvent]:
    """``events`` unchanged; the final answer is recorded as it passes."""
    for event in events:
        if isinstance(event, FinalEvent):
            observe_answer(event.answer)
        yield event


def observe_audit(record: Mapping[str, Any]) -> None:
    """Export a monitoring record (:class:`rag.audit.monitor.Monitor`): gaps, quality figures,
    alerts. Figure names come from fixed lists (signals x figures), so labels stay bounded."""
    for figure, value in record.get("gaps", {}).items():
        AUDIT_GAP.labels(figure).set(value)
    for figure, value in record.get("quality", {}).items():
        if value is not None:
            AUDIT_QUALITY.labels(figure).set(value)
    for alert in record.get("alerts", []):
        AUDIT_ALERTS.labels(alert["kind"], alert["figure"]).inc()
    AUDIT_LAST_RUN.set_to_current_time()


class _StateCollector(Collector):
    """Read at scrape time: jobs by state, models loaded, points in the store."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterable[Metric]:
        services: Services = self.app.state.services
        yield from self._jobs()
        loaded = GaugeMetricFamily(
            "mmrag_model_loaded", "1 when the part is built in this process.", labels=["part"]
        )
        for part in ("embedder", "passage_encoder", "lexical_encoder", "reranker", "chat_model"):
            loaded.add_metric([part], 1.0 if part in services.__dict__ else 0.0)
        yield loaded
        store = services.__dict__.get("store")
        if store is not None:
            try:
                points = GaugeMetricFamily("mmrag_store_points", "Points in the collection.")
                points.add_metric([], float(store.count()))
                yield points
            except Exception as exc:  # a store that cannot count now: the other metrics still
                log.warning("metrics: store count failed: %s", exc)

    def _jobs(self) -> Iterable[Metric]:
        from ingest.jobs import JobState

        family = GaugeMetricFamily(
            "mmrag_ingest_jobs",
            "Ingest jobs queued and running (the queue depth).",
            labels=["state"],
        )
        try:
            queue = job_queue(self.app)
            for state in (JobState.QUEUED, JobState.RUNNING):
                family.add_metric([state.value], float(len(queue.jobs(10_000, state))))
        except Exception as exc:
            log.warning("metrics: job queue unreadable: %s", exc)
            return
        yield family


def install_metrics(app: FastAPI) -> None:
    """Count every request, give it an id its log lines carry (``X-Request-ID``), and serve
    ``GET /metrics`` (Prometheus text format)."""
    app.add_middleware(MetricsMiddleware)
    install_request_ids(app)

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics(request: Request) -> Response:
        refused = _refusal(request)
        if refused is not None:
            return refused
        scraped = CollectorRegistry(auto_describe=False)
        scraped.register(_StateCollector(request.app))
        body = generate_latest(REGISTRY) + generate_latest(scraped)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _refusal(request: Request) -> JSONResponse | None:
    """With keys on: 401 without a valid key, 403 for a key that is not an admin's."""
    keyring = request.app.state.keyring
    if not keyring.enabled:
        return None
    header = request.headers.get("x-api-key") or ""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = header or (token.strip() if scheme.lower() == "bearer" else "")
    principal = keyring.lookup(given) if given else None
    if principal is None:
        message = "/metrics needs an admin API key: send 'Authorization: Bearer <key>'"
        body = {"error": "unauthorized", "message": message}
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if not principal.may(Role.ADMIN):
        message = "/metrics is for admin keys only"
        return JSONResponse({"error": "forbidden", "message": message}, status_code=403)
    return None

"""A span per HTTP request when traces are on (:mod:`rag.tracing`): named by the matched route's
template (``POST /v1/search``), continuing the caller's ``traceparent``, carrying the request id
(``mmrag.request_id``) that the request's log lines carry too. With traces off the middleware is
not installed at all."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag import tracing
from rag.log_format import request_id


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        headers = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers") or []
            if key in (b"traceparent", b"tracestate")
        }
        attributes = {"http.request.method": method, "mmrag.request_id": request_id.get() or ""}
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with tracing.span(method, headers, attributes, trace.SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                if span is not None:  # None: traces were turned off since the app was built
                    _finish(span, method, getattr(scope.get("route"), "path", None), status)


def _finish(span: trace.Span, method: str, route: str | None, status: int) -> None:
    if not span.is_recording():  # not sampled: nothing to name or set
        return
    span.update_name(f"{method} {route or 'unmatched'}")
    attributes: dict[str, str | int] = {"http.response.status_code": status}
    if route:
        attributes["http.route"] = route
    span.set_attributes(attributes)
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR)


def install_tracing(app: FastAPI) -> None:
    """Trace every request when the app's settings (or the ``OTEL_*`` variables) name a
    collector, or traces are already on in this process."""
    if tracing.start(app.state.services.settings):
        app.add_middleware(TracingMiddleware)

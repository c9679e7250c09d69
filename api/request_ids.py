"""A request id for every HTTP request: the caller's ``X-Request-ID`` when it is a short token,
else a new one; echoed in the response's ``X-Request-ID`` and carried by every log line made
while the request is served (``rag.log_format``)."""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.log_format import request_scope

HEADER = "x-request-id"
_TOKEN = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(HEADER.encode(), b"").decode("latin-1")
        value = given if _TOKEN.match(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER.encode()]
                message["headers"] = [*headers, (HEADER.encode(), value.encode())]
            await send(message)

        with request_scope(value):
            await self.app(scope, receive, send_with_id)


def install_request_ids(app: FastAPI) -> None:
    """Give every request an id (``X-Request-ID``) that its log lines carry."""
    app.add_middleware(RequestIdMiddleware)

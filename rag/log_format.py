"""How mmrag's processes log: plain lines, or JSON lines (``MMRAG_LOG__FORMAT=json``) that carry
the id of the HTTP request being served (``request_id``, set by the API's middleware).

Example::

    configure_logging(settings)          # once, at a process's start
    with request_scope("3f2a..."):       # the API does this per request
        log.info("searched")             # {"time": ..., "request_id": "3f2a...", ...}
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar

from rag.config import Settings
from rag.tracing import log_ids

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

request_id: ContextVar[str | None] = ContextVar("mmrag_request_id", default=None)
"""The id of the HTTP request this code serves (``None`` outside a request)."""


@contextlib.contextmanager
def request_scope(value: str) -> Iterator[None]:
    """Log records made inside the block carry ``value`` as their request id."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``request_id`` when there is one, ``trace_id`` and ``span_id`` when traces are on and a span
    is current, ``exception`` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current:
            line["request_id"] = current
        if ids := log_ids():
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Set the root logger's level and format (text or JSON lines) from ``settings`` (as
    :func:`logging.basicConfig`: nothing changes where the root logger has handlers already)."""
    handler = logging.StreamHandler()
    if settings.log.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=[handler])

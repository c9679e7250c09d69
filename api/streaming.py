"""Streaming answers: start the work before the response, format events, end cleanly on errors.

Answer streams are sync iterators of blocking work; Starlette runs each ``next()`` in a thread.
:func:`primed` pulls the first events inside the route, so failures before the first token (bad
input, an LLM that is down) still get their status code; a failure later becomes a last error
event in the stream's own format.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi.responses import StreamingResponse

from api.errors import error_body
from rag.answer import AnswerEvent, RetrievalEvent
from rag.errors import MmragError

log = logging.getLogger(__name__)

T = TypeVar("T")

ErrorLine = Callable[[dict[str, Any]], str]
"""Formats ``{"error": code, "message": ...}`` as the stream's last line."""

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def primed(events: Iterator[AnswerEvent]) -> Iterator[AnswerEvent]:
    """``events`` with everything up to the first token (or the final event) pulled already."""
    head: list[AnswerEvent] = []
    for event in events:
        head.append(event)
        if not isinstance(event, RetrievalEvent):
            break
    return itertools.chain(head, events)


def guarded(lines: Iterator[str], error_line: ErrorLine) -> Iterator[str]:
    """``lines``; an error midway is logged and ends the stream with one error line."""
    try:
        yield from lines
    except MmragError as exc:
        log.warning("stream ended early: %s: %s", exc.code, exc)
        yield error_line(error_body(exc.code, str(exc)))
    except Exception:
        log.exception("stream ended early")
        yield error_line(error_body("internal_error", "internal server error; see the log"))


def sse(data: Any, event: str | None = None) -> str:
    """One server-sent event; ``data`` is JSON-encoded unless it is a string."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n"


def ndjson(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"


def event_stream(lines: Iterator[str], error_line: ErrorLine) -> StreamingResponse:
    """A ``text/event-stream`` response of ``lines``."""
    return StreamingResponse(
        guarded(lines, error_line), media_type="text/event-stream", headers=SSE_HEADERS
    )


def ndjson_stream(lines: Iterator[str], error_line: ErrorLine) -> StreamingResponse:
    """An ``application/x-ndjson`` response of ``lines`` (Ollama's streaming format)."""
    return StreamingResponse(guarded(lines, error_line), media_type="application/x-ndjson")

"""Traces of the Redis queue's work: a span per planning (``ingest.plan``) and per task
(``ingest.task``) that a worker runs, joined to the trace of the request that queued the job and
carrying the job id, the task's index and the worker. A Dramatiq middleware, so the actors stay
as they are; with traces off it does nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
from opentelemetry import trace

from ingest.specs import JobSpec
from rag import tracing


class TaskSpans(Middleware):
    """Opens a span before each message's actor runs and ends it after (in the same thread).

    ``spec_of(job_id)`` reads the job's spec (its ``trace``); ``owner`` names the worker.
    """

    def __init__(self, spec_of: Callable[[str], JobSpec], owner: str) -> None:
        self.spec_of = spec_of
        self.owner = owner
        self._open = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if not tracing.enabled():
            return
        job_id = str(message.args[0])
        try:
            parent = self.spec_of(job_id).trace
        except Exception:  # a job gone or unreadable: the actor reports it; the span starts anew
            parent = {}
        attributes: dict[str, str | int] = {"mmrag.job_id": job_id, "mmrag.worker": self.owner}
        name = "ingest.plan"
        if len(message.args) > 1:
            name, attributes["mmrag.task"] = "ingest.task", int(message.args[1])
        opened: AbstractContextManager[trace.Span | None] = tracing.span(name, parent, attributes)
        self._open.span = (opened, opened.__enter__())

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        found = getattr(self._open, "span", None)
        if found is None:
            return
        self._open.span = None
        opened, span = found
        if exception is not None and span is not None:
            span.record_exception(exception)
            span.set_status(trace.StatusCode.ERROR, f"{type(exception).__name__}: {exception}")
        opened.__exit__(None, None, None)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.after_process_message(broker, message)

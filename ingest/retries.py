"""Tries again after transient errors, with exponential backoff; permanent errors fail at once.

Transient: what a later try may not meet (an I/O hiccup, a connection refused or timed out, an
embedding, store or LLM server away or busy). Permanent: what will fail the same way each time
until a person acts (a corrupt or unreadable file, a bad setting, a full disk, a bug): retrying
those only wastes time, so they go straight to the job's failures (its dead letters).

Example::

    retry = Retrier(settings.ingest.retries, should_stop)
    try:
        data = retry.attempt(lambda: read(path))
    except GaveUp as failed:
        report(failed.error, failed.attempts, failed.transient)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from rag.errors import (
    CollectionMismatchError,
    ConfigError,
    EmbeddingTimeoutError,
    InvalidInputError,
    LLMTimeoutError,
    LLMUnavailableError,
    StorageFullError,
    StoreError,
    StoreLockedError,
)
from rag.store.space import is_disk_full

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_S = 0.5
"""The first wait; each further wait doubles (0.5 s, 1 s, 2 s…), at most :data:`MAX_WAIT_S`."""
MAX_WAIT_S = 30.0
_TICK_S = 0.1
_PERMANENT_OS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
_PERMANENT = (
    InvalidInputError,
    ConfigError,
    StorageFullError,
    StoreLockedError,
    CollectionMismatchError,
)
_TRANSIENT: tuple[type[BaseException], ...] = (
    StoreError,
    LLMUnavailableError,
    LLMTimeoutError,
    EmbeddingTimeoutError,
)
try:  # the HTTP client of the embedding and LLM servers: its transport errors are not OSErrors
    import httpx

    _TRANSIENT = (*_TRANSIENT, httpx.TransportError)
except ImportError:  # pragma: no cover - httpx comes with the API's dependencies
    pass


def is_transient(exc: BaseException) -> bool:
    """Whether a later try may succeed where ``exc`` was raised (an exception may say so
    itself with a ``transient`` attribute, or a ``retry_after`` that is set: a passage
    embedding server that is down or busy)."""
    marked = getattr(exc, "transient", None)
    if isinstance(marked, bool):
        return marked
    if getattr(exc, "retry_after", None) is not None:  # a server away or busy said so
        return True
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, _TRANSIENT):
        return True
    if isinstance(exc, OSError):
        return not isinstance(exc, _PERMANENT_OS) and not is_disk_full(exc)
    return False


def backoff_s(retry: int) -> float:
    """The wait before retry number ``retry`` (1, 2, …)."""
    return min(MAX_WAIT_S, BACKOFF_S * 2 ** (retry - 1))


class GaveUp(Exception):
    """A step failed for good: ``error`` is its last error after ``attempts`` tries."""

    def __init__(self, error: Exception, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.transient = is_transient(error)


class Retrier:
    """Runs steps, trying each again up to ``retries`` times after a transient error (thread-safe;
    ``retried`` counts the tries made again). A stop request ends the waiting."""

    def __init__(self, retries: int = 0, should_stop: Callable[[], bool] | None = None) -> None:
        self.retries = retries
        self.should_stop = should_stop or (lambda: False)
        self.retried = 0
        self._lock = threading.Lock()

    def attempt(self, step: Callable[[], T]) -> T:
        """``step()``'s result; its last error raised as :class:`GaveUp`."""
        tries = 0
        while True:
            tries += 1
            try:
                return step()
            except Exception as exc:
                if tries > self.retries or not is_transient(exc):
                    raise GaveUp(exc, tries) from exc
                wait_s = backoff_s(tries)
                log.warning("try %d failed (%s); trying again in %.1f s", tries, exc, wait_s)
                if not self._wait(tries):
                    raise GaveUp(exc, tries) from exc
            with self._lock:
                self.retried += 1

    def _wait(self, retry: int) -> bool:
        """Sleep before retry number ``retry``; ``False`` when a stop was asked meanwhile."""
        deadline = time.monotonic() + backoff_s(retry)
        while (left := deadline - time.monotonic()) > 0:
            if self.should_stop():
                return False
            time.sleep(min(_TICK_S, left))
        return not self.should_stop()

"""Prometheus counters of ingest work in this process (the embedded worker's are served on the
API's ``/metrics``; a standalone worker serves its own on ``MMRAG_INGEST__METRICS_PORT``): items
and documents read, written, unchanged and failed, failures by reason, the tries made again, and
the seconds spent, so ``rate(items) / rate(seconds)`` is items per second per kind.

Example::

    record_report(report.to_dict())      # once per finished job or task
    serve_metrics(9464)                  # python -m ingest: GET :9464/metrics
"""

from __future__ import annotations

import re
import threading
from typing import Any

from prometheus_client import Counter, start_http_server

from rag import tracing
from rag.errors import ConfigError

ITEMS = Counter(
    "mmrag_ingest_items",
    "Ingested units by kind (item: every image, text, page, figure or passage; document: a file "
    "read as a document) and outcome (seen, written, unchanged, failed).",
    ["kind", "outcome"],
)
FAILURES = Counter(
    "mmrag_ingest_failures", "Items that failed to ingest, by reason (its first words).", ["reason"]
)
SECONDS = Counter("mmrag_ingest_seconds", "Seconds spent running ingest jobs and tasks.")
JOBS = Counter("mmrag_ingest_runs", "Finished ingest runs (jobs or tasks) by end.", ["end"])
RETRIES = Counter(
    "mmrag_ingest_retries", "Tries made again after a transient error (an item, a batch's write)."
)

MAX_REASONS = 50
"""Distinct reason labels kept; later new reasons count as ``other`` (bounded label values)."""
_reasons: set[str] = set()
_lock = threading.Lock()


def reason_label(reason: str) -> str:
    """A short, bounded label for a failure reason: its words before the first ``:`` (or the
    first 5 words), lower-cased, without paths or numbers."""
    head = reason.split(":", 1)[0] if ":" in reason else " ".join(reason.split()[:5])
    words = re.sub(r"[^a-z ]+", " ", head.lower())
    label = " ".join(words.split())[:60] or "unknown"
    with _lock:
        if label not in _reasons:
            if len(_reasons) >= MAX_REASONS:
                return "other"
            _reasons.add(label)
    return label


def record_report(report: dict[str, Any]) -> None:
    """Count one finished run's report (``IngestReport.to_dict()``), and note its counts on the
    current span (the job's or task's) when traces are on."""
    counts = ("seen", "written", "unchanged", "failed", "documents")
    tracing.annotate({f"mmrag.items.{name}": int(report.get(name) or 0) for name in counts})
    for outcome in ("seen", "written", "unchanged", "failed"):
        ITEMS.labels("item", outcome).inc(int(report.get(outcome) or 0))
    ITEMS.labels("document", "seen").inc(int(report.get("documents") or 0))
    for failure in report.get("failures") or []:
        FAILURES.labels(reason_label(str(failure.get("reason", "")))).inc()
    SECONDS.inc(float(report.get("elapsed_s") or 0.0))
    RETRIES.inc(int(report.get("retries") or 0))
    JOBS.labels("stopped" if report.get("stopped") else "ended").inc()


def serve_metrics(port: int) -> bool:
    """Serve this process's metrics (Prometheus text, ``GET /metrics``) on ``port`` on every
    interface, from a background thread; ``0``: nothing. Returns whether it serves."""
    if not port:
        return False
    try:
        start_http_server(port, addr="0.0.0.0")
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on port {port}: {exc}; set MMRAG_INGEST__METRICS_PORT to a "
            "free port (or 0 for none)"
        ) from None
    return True

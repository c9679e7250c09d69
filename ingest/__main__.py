"""``python -m ingest``: a standalone worker that runs the jobs the API queues.

Use it with a Qdrant server (``MMRAG_STORE__URL=http://…``) and a data folder shared with the
API; an embedded Qdrant Edge shard can be open in one process only (the API's own worker then
runs the jobs). With ``MMRAG_QUEUE__URL=redis://…`` it takes tasks from Redis, on any machine.
SIGINT/SIGTERM stop it after the current batch (SQLite: the job is requeued; Redis: the task
finishes first). ``MMRAG_INGEST__METRICS_PORT`` serves its Prometheus metrics (it has no other
HTTP server); ``MMRAG_OTEL__ENDPOINT`` sends its spans to a collector.
``python -m ingest --check`` only checks the settings and the job queue (a health check).
"""

from __future__ import annotations

import signal
import sys

from ingest.metrics import serve_metrics
from ingest.queue import make_worker, open_jobs
from ingest.stored_files import sweep_partial_files
from rag import tracing
from rag.config import load_settings
from rag.errors import MmragError
from rag.log_format import configure_logging
from rag.logs import quiet_third_party_logs
from rag.services import Services


def main() -> int:
    try:
        settings = load_settings()
    except MmragError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "--check" in sys.argv[1:]:
        open_jobs(settings).jobs(limit=1)
        print("ok")
        return 0
    configure_logging(settings)
    quiet_third_party_logs(settings.log_level)
    tracing.start(settings, service="mmrag-worker")
    try:
        serve_metrics(settings.ingest.metrics_port)
    except MmragError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    services = Services(settings)
    sweep_partial_files(settings.files_dir)
    worker = make_worker(services)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: worker.request_stop())
    try:
        services.embedder.warm_up()
        _ = services.store
        worker.run_forever()
    except MmragError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        worker.stop()
        services.close()
        tracing.stop()  # sends the spans still buffered
    return 0


if __name__ == "__main__":
    sys.exit(main())

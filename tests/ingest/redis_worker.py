"""A Redis queue worker process for the tests: ``python -m tests.ingest.redis_worker PORT``.

It is ``python -m ingest`` with one change: its store is the shared test store served on
``PORT`` (see :mod:`tests.ingest.shared_store`), since no Qdrant server runs here.
"""

from __future__ import annotations

import logging
import signal
import sys
import time

from ingest.redis_queue import RedisWorker
from rag.config import load_settings
from rag.services import Services
from tests.ingest.shared_store import RemoteStore


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    services = Services(load_settings())
    services.embedder.warm_up()
    services.__dict__["store"] = _connect(int(sys.argv[1]))
    services.store.ensure_collection(services.collection_layout)  # the text signals join CLIP's
    worker = RedisWorker(services)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: worker.request_stop())
    try:
        worker.run_forever()
    finally:
        worker.stop()


def _connect(port: int, timeout_s: float = 60) -> RemoteStore:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return RemoteStore(port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    main()

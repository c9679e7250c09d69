"""One embedded store shared by several worker processes: the tests' stand-in for a Qdrant server.

How the workers share the store: Qdrant Edge and qdrant-client's local mode each hold their
folder for one process (a second opener fails or, for Edge, damages the first), and no Qdrant
server can run on this machine. So one process (:func:`serve`) opens a real Qdrant Edge store
and serves it over a local socket with :mod:`multiprocessing.managers`; every worker reaches it
through :class:`RemoteStore`, a ``VectorStore`` that forwards each call. Writes are upserts by
deterministic point id, as they would be on a Qdrant server: a task that runs twice writes the
same points twice, never two copies.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

from rag.store.candidates import Candidates

AUTHKEY = b"mmrag-tests"
COLLECTION = "mmrag"


class _ServerManager(BaseManager):
    pass


class _ClientManager(BaseManager):
    pass


_ClientManager.register("store")


class _Serialized:
    """The served store, one call at a time."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._lock = threading.Lock()

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            result = getattr(self._store, name)(*args, **kwargs)
            # a Candidates may leave cells to the engine: score them here, where it is open
            return result.filled() if isinstance(result, Candidates) else result


class RemoteStore:
    """A ``VectorStore`` whose calls run in the :func:`serve` process."""

    collection = COLLECTION

    def __init__(self, port: int) -> None:
        manager = _ClientManager(address=("127.0.0.1", port), authkey=AUTHKEY)
        manager.connect()
        self._remote = manager.store()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._remote.call(name, args, kwargs)

    def close(self) -> None:
        pass


def serve(data_dir: Path, port: int, dim: int) -> None:
    """Open the Edge store under ``data_dir`` and serve it until killed."""
    _server(data_dir, port, dim)[0].serve_forever()


@contextmanager
def served_in_thread(data_dir: Path, dim: int) -> Iterator[int]:
    """Serve the store from a thread of this process; yields its port."""
    server, store = _server(data_dir, 0, dim)
    threading.Thread(target=_quietly, args=(server.serve_forever,), daemon=True).start()
    try:
        yield server.address[1]
    finally:
        server.stop_event.set()
        store.close()


def _quietly(serve: Any) -> None:
    with suppress(SystemExit):  # how a manager's server ends
        serve()


def _server(data_dir: Path, port: int, dim: int) -> tuple[Any, Any]:
    from rag.config import StoreSettings
    from rag.store import CollectionLayout, open_store

    store = open_store(StoreSettings(collection=COLLECTION), data_dir)
    store.ensure_collection(CollectionLayout.of(dim))  # workers add their text signals
    served = _Serialized(store)
    _ServerManager.register("store", callable=lambda: served)
    return _ServerManager(address=("127.0.0.1", port), authkey=AUTHKEY).get_server(), store


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))

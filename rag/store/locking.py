"""mmrag's own lock on an embedded shard: a lock file next to the shard folder.

Qdrant Edge locks its write-ahead log only after it has started opening the shard, and a second
process's failed open damages the first one's payload index. So a store takes this lock first,
and a second process (or a second store in this process) fails with
:class:`rag.errors.StoreLockedError` before it touches a byte of the shard.

Example::

    lock = FolderLock.acquire(shard_path)   # raises StoreLockedError when held elsewhere
    ...
    lock.release()
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rag.errors import StoreLockedError

LOCK_SUFFIX = ".lock"


def lock_path(shard_path: Path) -> Path:
    """The lock file of the shard at ``shard_path``: ``<parent>/<name>.lock``."""
    return shard_path.with_name(shard_path.name + LOCK_SUFFIX)


class FolderLock:
    """An exclusive ``flock`` on the lock file of one shard, held until :meth:`release`.

    The kernel drops it when the process dies (kill -9 included), so no stale lock survives.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, shard_path: Path) -> FolderLock:
        """Take the lock of ``shard_path`` now, or raise StoreLockedError without waiting."""
        path = lock_path(Path(shard_path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreLockedError(
                f"the embedded store at {shard_path} is open in another process{holder} (or "
                "another store of this one): stop it, send the work to the running server "
                "(`mmrag ingest` does so by itself), or use a Qdrant server (MMRAG_STORE__URL) "
                "to share a collection"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        _write_holder(fd)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Drop the lock (idempotent). The lock file stays; it holds nothing but a pid."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def __del__(self) -> None:
        self.release()


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""

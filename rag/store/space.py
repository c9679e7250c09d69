"""Refuse writes before the disk is full: Qdrant Edge maps its files into memory, and a write to
a mapped page the filesystem cannot back kills the process (SIGBUS) instead of raising.

Example::

    check_free_space(shard_path, min_free_bytes=256 * 2**20)  # StorageFullError when short
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from rag.errors import StorageFullError

MiB = 2**20


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on the filesystem holding ``path``."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def check_free_space(path: Path, min_free_bytes: int) -> None:
    """Raise :class:`StorageFullError` when less than ``min_free_bytes`` are free at ``path``."""
    if min_free_bytes <= 0:
        return
    free = free_bytes(path)
    if free < min_free_bytes:
        raise StorageFullError(
            f"only {free // MiB} MiB free on the filesystem of {path}, under the reserve of "
            f"{min_free_bytes // MiB} MiB (MMRAG_STORE__MIN_FREE_MB): free some space (or lower "
            "the reserve), then ingest again; points written so far are kept"
        )


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)

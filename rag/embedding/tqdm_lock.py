"""tqdm's lock kept to this process, so a killed child cannot leave it taken.

sentence-transformers builds a tqdm bar on every ``encode`` and ``predict``, even with
``show_progress_bar=False``, and takes tqdm's lock to do so. tqdm's default lock holds a
multiprocessing semaphore that forked children share with their parent: a child killed while
it holds it (``kill -9`` of a forked server or worker in the middle of an encode) leaves it
taken, and the parent's next encode waits forever. mmrag draws no bar from several processes at
once, so a plain thread lock, copied rather than shared by ``fork``, is enough.
"""

from __future__ import annotations

import threading

from tqdm.std import tqdm

_LOCK = threading.RLock()


def keep_tqdm_lock_in_process() -> None:
    """Make tqdm's lock a thread lock of this process (idempotent; call before loading a model)."""
    if getattr(tqdm, "_lock", None) is not _LOCK:
        tqdm.set_lock(_LOCK)

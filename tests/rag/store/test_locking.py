"""mmrag's lock file: a second process fails before touching the shard, the first one goes on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rag.config import StoreSettings
from rag.errors import StoreLockedError
from rag.store import edge_path, open_store
from rag.store.locking import lock_path

from .helpers import DIM, LAYOUT, random_points

SECOND_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from rag.config import StoreSettings
    from rag.errors import StoreLockedError
    from rag.store import CollectionLayout, open_store
    try:
        store = open_store(StoreSettings(), Path(sys.argv[1]))
        store.ensure_collection(CollectionLayout.of(int(sys.argv[2])))
    except StoreLockedError as exc:
        print("LOCKED", exc)
        sys.exit(0)
    print("OPENED")
    sys.exit(1)
    """
)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file, once the live process has finished preallocating its next
    WAL segment (Edge writes ``wal/tmp-open-N`` in the background, then renames it)."""
    deadline = time.monotonic() + 10
    while any((folder / "wal").glob("tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_second_process_is_refused_and_the_first_keeps_writing(tmp_path: Path) -> None:
    store = open_store(StoreSettings(), tmp_path)
    store.ensure_collection(LAYOUT)
    points = random_points(20)
    store.upsert(points[:10])
    store.flush()
    before = _snapshot(edge_path(tmp_path, "mmrag"))

    second = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, str(tmp_path), str(DIM)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "LOCKED" in second.stdout and "another process" in second.stdout
    assert _snapshot(edge_path(tmp_path, "mmrag")) == before  # not a byte touched

    store.upsert(points[10:])
    store.flush()  # on main this failed: "Failed to flush payload_index ... tracker_journal"
    assert store.count() == 20
    store.close()


def test_lock_is_released_on_close_and_held_in_process(tmp_path: Path) -> None:
    first = open_store(StoreSettings(), tmp_path)
    assert lock_path(edge_path(tmp_path, "mmrag")).exists()
    with pytest.raises(StoreLockedError, match="pid"):
        open_store(StoreSettings(), tmp_path)
    first.close()
    again = open_store(StoreSettings(), tmp_path)
    again.ensure_collection(LAYOUT)
    assert again.count() == 0
    again.close()

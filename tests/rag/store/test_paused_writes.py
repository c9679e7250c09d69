"""EdgeStore.paused_writes(): the shard's files copied inside the block open as a whole store,
writes from other threads wait for the block's end, searches go on."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from rag.store.edge import EdgeStore

from .helpers import LAYOUT, random_points


def test_paused_writes_holds_writers_serves_readers_and_leaves_a_copyable_shard(
    tmp_path: Path,
) -> None:
    store = EdgeStore(tmp_path / "live", "mmrag")
    store.ensure_collection(LAYOUT)
    points = random_points(20)
    store.upsert(points[:10])
    writer_done = threading.Event()

    def write_more() -> None:
        store.upsert(points[10:])
        writer_done.set()

    with store.paused_writes():
        writer = threading.Thread(target=write_more)
        writer.start()
        assert not writer_done.wait(0.5)  # the write waits for the pause to end
        read = {}
        reader = threading.Thread(target=lambda: read.update(n=store.count()))
        reader.start()
        reader.join(10)
        assert read == {"n": 10}  # a read from another thread is answered meanwhile
        shutil.copytree(store.path, tmp_path / "copy", ignore=shutil.ignore_patterns("*.lock"))
    writer.join(10)
    assert writer_done.is_set()
    assert store.count() == 20
    store.close()

    copy = EdgeStore(tmp_path / "copy", "mmrag")
    try:
        assert copy.count() == 10
        got = copy.get([p.id for p in points[:10]])
        assert sorted(p.id for p in got) == sorted(p.id for p in points[:10])
    finally:
        copy.close()

"""kill -9 at seeded moments, then run again: exactly the expected points, none half-written."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from ingest.runner import ingest_paths
from rag.config import Settings
from rag.embedding.base import Embedder
from rag.services import Services
from tests.ingest.checks import check_invariants
from tests.ingest.draw import captioned_folder, save

ITEMS = 64


def _services(settings: Settings, embedder: Embedder) -> Services:
    services = Services(settings)
    services.__dict__["embedder"] = embedder
    return services


class _Beacon:
    """The child's progress sink: one byte down a pipe per batch."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def update(self, report: object) -> None:
        os.write(self.fd, b".")


def _ingest_in_child(settings: Settings, embedder: Embedder, folder: Path) -> tuple[int, int]:
    """Fork a process that ingests ``folder``; returns its pid and the read end of its beacon."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read_end)
            services = _services(settings, embedder)
            ingest_paths(services, [folder], progress=_Beacon(write_end))
            services.close()
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def _kill_after(pid: int, beacon: int, batches: int, delay_s: float) -> None:
    """SIGKILL the child ``delay_s`` after its ``batches``-th batch (or when it ends)."""
    seen = 0
    while seen < batches and os.read(beacon, 1):
        seen += 1
    time.sleep(delay_s)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(beacon)


def _count_after_kill(settings: Settings, embedder: Embedder) -> int:
    services = _services(settings, embedder)
    try:
        count = services.store.count()
        check_invariants(services.store, count)
        return count
    finally:
        services.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_9_at_any_moment_then_rerun(
    settings: Settings, tiny_embedder: Embedder, folder: Path
) -> None:
    captioned_folder(folder, ITEMS - 2)
    save(folder / "image_only.jpg", 500, "JPEG")
    (folder / "text_only.txt").write_text("no picture here")
    settings = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"batch_size": 4})}
    )
    counts, batches = [], 0
    for seed in (1, 2, 3, 4):
        rng = random.Random(seed)
        batches += rng.randint(1, 4)  # each run gets further: earlier batches are unchanged
        pid, beacon = _ingest_in_child(settings, tiny_embedder, folder)
        _kill_after(pid, beacon, batches, rng.uniform(0.0, 0.03))
        counts.append(_count_after_kill(settings, tiny_embedder))
        assert counts[-1] <= ITEMS
    services = _services(settings, tiny_embedder)
    try:
        report = ingest_paths(services, [folder])
        assert (report.seen, report.written + report.unchanged, report.failed) == (ITEMS,) * 2 + (
            0,
        )
        check_invariants(services.store, ITEMS)
    finally:
        services.close()
    print("points after each kill:", counts)

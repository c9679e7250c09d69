"""Progress of a CLI run: a bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from ingest.report import IngestReport, ProgressSink

log = logging.getLogger("ingest")


class BarProgress:
    """A tqdm bar of items seen, with written/unchanged/failed counters."""

    def __init__(self, stream: TextIO) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc="ingest", unit="item", file=stream, dynamic_ncols=True)

    def update(self, report: IngestReport) -> None:
        self.bar.set_postfix(
            written=report.written, unchanged=report.unchanged, failed=report.failed, refresh=False
        )
        self.bar.update(report.seen - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class LogProgress:
    """Logs the counters at most every ``interval_s`` seconds."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._last = time.monotonic()

    def update(self, report: IngestReport) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            log.info(
                "ingest: seen %d, written %d, unchanged %d, failed %d",
                report.seen, report.written, report.unchanged, report.failed,
            )  # fmt: skip

    def close(self) -> None:
        pass


@contextmanager
def terminal_progress(stream: TextIO | None = None) -> Iterator[ProgressSink]:
    """A bar when ``stream`` (default stderr) is a terminal, else periodic log lines."""
    stream = stream or sys.stderr
    sink = BarProgress(stream) if stream.isatty() else LogProgress()
    try:
        yield sink
    finally:
        sink.close()

"""The growth of this process's peak resident memory over a block (Linux ``VmHWM``, reset
through ``/proc/self/clear_refs`` so an earlier peak cannot hide a new one, after
``malloc_trim`` so memory freed earlier but still held cannot absorb a new one)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import re
from pathlib import Path
from types import TracebackType

import pytest

MB = 1024 * 1024


class PeakRss:
    """``with PeakRss() as peak: ...`` then ``peak.growth``: bytes the peak rose above the RSS
    at the start (threads of the in-process app count too)."""

    growth = 0

    def __enter__(self) -> PeakRss:
        gc.collect()
        _trim()  # memory freed earlier but kept by malloc would hide new allocations
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pytest.skip("the peak RSS cannot be reset here (/proc/self/clear_refs)")
        self.start = _status_kib("VmRSS")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.growth = (_status_kib("VmHWM") - self.start) * 1024


def _trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    assert match, f"no {field} in /proc/self/status"
    return int(match.group(1))

"""The budgets every fuzzed input must keep, and the child process that reads hostile files."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings

REPO = Path(__file__).resolve().parents[2]

READ_CPU_S = 3.0
"""CPU seconds one source (a folder of one hostile file, or a manifest) may cost to read."""
READ_WALL_S = 30.0
"""Wall seconds after which a read counts as a hang (the machine is shared: CPU is the budget)."""
READ_RSS_MIB = 768
"""Peak RSS growth of one read; the caps of the default settings keep a legal file under it."""

REQUEST_S = 10.0
"""Wall seconds one HTTP request may take."""
SERVER_RSS_MIB = 1024
"""Peak RSS growth of the server over a whole fuzz run."""


class Hang(AssertionError):
    """A read did not answer within :data:`READ_WALL_S`."""


class ReaderProcess:
    """``tests/fuzz/reader_worker.py`` in a child process, restarted after a hang or a death."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        budgets = [str(READ_CPU_S), str(READ_RSS_MIB)]
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.reader_worker", str(self.data_dir), *budgets],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answer(process, 120)
        return process

    def read(self, path: Path, **settings: Any) -> dict[str, Any]:
        """The worker's answer for the source at ``path`` read under default ingest settings
        but ``settings``; raises :class:`Hang`."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"path": str(path), "settings": settings}) + "\n")
        self.process.stdin.flush()
        try:
            answer = self._answer(self.process, READ_WALL_S)
        except BaseException:
            self.close()
            raise
        if "aborted" in answer:  # the watchdog answered and is ending the process
            self.close()
        return answer

    @staticmethod
    def _answer(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Hang(f"no answer in {timeout:.0f} s")
            ready, _, _ = select.select([process.stdout], [], [], left)
            if ready:
                line = process.stdout.readline()
                if not line:
                    raise AssertionError(f"the reader process died (exit {process.wait()})")
                return json.loads(line)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


FUZZ = settings(  # every fuzz test: fixed seeds, no shrinking, no example database
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)

"""``mmrag ingest`` and ``python -m ingest`` as users run them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.jobs import JobQueue, JobSpec, JobState
from mmrag_cli.main import app
from tests.ingest.draw import captioned_folder

ROOT = Path(__file__).resolve().parents[2]


def test_mmrag_ingest_json_report(tiny_env: dict[str, str], folder: Path) -> None:
    captioned_folder(folder, 3)
    (folder / "empty.png").write_bytes(b"")
    runner = CliRunner()
    args = ["ingest", str(folder), "--json", "--batch-size", "2", "--collection", "c1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["seen"], report["written"], report["failed"]) == (4, 3, 1)
    assert report["failures"][0]["reason"] == "empty file (0 bytes)"
    second = runner.invoke(app, ["ingest", str(folder), "--collection", "c1", "--prune"])
    assert second.exit_code == 0, second.output
    assert "written 0, unchanged 3, failed 1" in second.stdout
    assert "empty.png: empty file" in second.stdout


def test_mmrag_ingest_refuses_a_missing_path(tiny_env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.slow
def test_python_m_ingest_runs_queued_jobs_and_stops_on_sigterm(
    tiny_env: dict[str, str], folder: Path, tmp_path: Path
) -> None:
    captioned_folder(folder, 3)
    queue = JobQueue(tmp_path / "data" / "jobs.sqlite3")
    job_id = queue.submit(JobSpec(paths=[str(folder)]))
    env = {**os.environ, **tiny_env, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-m", "ingest"], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while queue.get(job_id).state != JobState.DONE and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker exited early"
            time.sleep(0.2)
        assert queue.get(job_id).progress.written == 3
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def test_python_m_ingest_check_is_a_cheap_health_check(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MMRAG_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--check"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

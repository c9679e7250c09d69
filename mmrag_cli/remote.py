"""``mmrag ingest`` through a running server: find it, send the job, follow its progress.

``mmrag serve`` announces itself in ``<data_dir>/server.json`` (its URL and process id) while it
runs; ``mmrag ingest`` on the same data folder then sends its paths to that server instead of
opening the store the server holds.

Example::

    url = running_server(settings)          # "http://127.0.0.1:8000" or None
    report = RemoteIngest(url, settings).run(paths, progress=bar)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from api.auth import client_key
from ingest.report import IngestReport, ItemError, ProgressSink
from rag.config import Settings
from rag.errors import InvalidInputError, MmragError

SERVER_FILE = "server.json"
_ENDED = ("done", "failed", "cancelled")


class RemoteJobError(MmragError):
    """The server refused or failed the job; the message is the server's."""

    code = "remote_job_failed"


@contextmanager
def announce(settings: Settings) -> Iterator[None]:
    """Write ``<data_dir>/server.json`` while the block runs (``mmrag serve``)."""
    host = settings.api.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    host = f"[{host}]" if ":" in host else host
    path = Path(settings.data_dir) / SERVER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"url": f"http://{host}:{settings.api.port}", "pid": os.getpid()}
    path.write_text(json.dumps(record), encoding="utf-8")
    try:
        yield
    finally:
        with suppress(OSError, ValueError):
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()


def running_server(settings: Settings) -> str | None:
    """The URL of the live ``mmrag serve`` on this data folder, or ``None``."""
    try:
        record = json.loads((Path(settings.data_dir) / SERVER_FILE).read_text(encoding="utf-8"))
        pid, url = int(record["pid"]), str(record["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return url


class RemoteIngest:
    """Sends ``paths`` to a server's ``POST /v1/ingest`` and follows the job to its end."""

    def __init__(self, url: str, settings: Settings, poll_s: float = 0.3) -> None:
        self.url = url.rstrip("/")
        key = client_key(settings)
        self.client = httpx.Client(
            base_url=self.url,
            headers={"X-API-Key": key} if key else {},
            timeout=settings.store.timeout_s,
        )
        self.poll_s = poll_s

    def run(
        self,
        paths: Sequence[Path],
        body: dict[str, Any],
        progress: ProgressSink | None = None,
    ) -> IngestReport:
        """Ingest ``paths`` on the server; Ctrl-C cancels the job there and re-raises."""
        job_id = self.submit(paths, body)
        try:
            job = self.follow(job_id, progress)
        except KeyboardInterrupt:
            self.client.delete(f"/v1/ingest/{job_id}")
            raise
        if job["state"] == "failed" and not job.get("report"):
            raise RemoteJobError(f"ingest job {job_id} failed on {self.url}: {job.get('error')}")
        return report_of(job)

    def submit(self, paths: Sequence[Path], body: dict[str, Any]) -> str:
        payload = {"paths": [str(Path(p).resolve()) for p in paths], **body}
        try:
            answer = self.client.post("/v1/ingest", json=payload)
        except httpx.TransportError as exc:
            raise RemoteJobError(f"cannot reach the server at {self.url}: {exc}") from None
        if answer.status_code == 400:
            raise InvalidInputError(f"the server at {self.url} refused: {_message(answer)}")
        if answer.status_code != 202:
            raise RemoteJobError(
                f"the server at {self.url} answered {answer.status_code}: {_message(answer)}"
            )
        return str(answer.json()["job_id"])

    def follow(self, job_id: str, progress: ProgressSink | None) -> dict[str, Any]:
        """Poll the job, feeding its counters to ``progress``, until it ends."""
        while True:
            job = self.client.get(f"/v1/ingest/{job_id}").json()
            if progress is not None:
                progress.update(_counters(job["progress"]))
            if job["state"] in _ENDED:
                return job
            time.sleep(self.poll_s)


def report_of(job: dict[str, Any]) -> IngestReport:
    """The report of an ended job as the CLI prints it."""
    data = job.get("report") or {}
    if not data:
        return _counters(job["progress"])
    failures = [
        ItemError(f["source"], f["reason"], f.get("index"), f.get("attempts", 1))
        for f in data["failures"]
    ]
    names = ("seen", "written", "unchanged", "ignored", "truncated", "retries")
    fields = {k: data.get(k, 0) for k in names}
    report = IngestReport(**fields, failures=failures, pruned=data.get("pruned", 0))
    report.elapsed_s = data.get("elapsed_s", 0.0)
    report.stopped = job["state"] == "cancelled"
    return report


def _counters(progress: dict[str, int]) -> IngestReport:
    failed = [ItemError("", "")] * progress.get("failed", 0)
    return IngestReport(
        seen=progress.get("seen", 0),
        written=progress.get("written", 0),
        unchanged=progress.get("unchanged", 0),
        failures=failed,
    )


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", answer.text))
    except ValueError:
        return answer.text

"""A job split into tasks of at most ``task_items`` items that any worker can run.

Planning walks each source once (names only, no file is read) and cuts its entries into tasks;
a task carries its entries as JSON, so the worker that runs it needs no second walk. Entries are
numbered in the source's own deterministic order, and point ids come from the items, so a task
that runs twice (its worker died) writes the same points again: no duplicates, no loss.

Example::

    for task in plan_tasks(spec, task_items=256):
        queue_it(task.to_json())
    report = run_task(services, Task.from_json(text))
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.dead_letters import narrowed
from ingest.items import Ignored, Source, SourceItem
from ingest.report import IngestReport, ItemError, ProgressSink
from ingest.runner import discard_unused_pictures, make_ingestor
from ingest.sources import open_source
from ingest.specs import JobSpec
from ingest.uploads import upload_source
from rag.services import Services
from rag.store.base import VectorStore

Entry = SourceItem | ItemError | Ignored
MAX_FAILURES = 1000
"""A job's summed report keeps at most this many failures (the counters stay exact)."""


@dataclass
class Task:
    """Entries of one source (``root``), or a whole ``path`` whose source is not split
    (opened again under the job's ``roots``, as :func:`ingest.sources.open_source` does)."""

    index: int
    root: str = ""
    entries: list[Entry] = field(default_factory=list)
    path: str | None = None
    roots: list[str] | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "index": self.index,
                "root": self.root,
                "path": self.path,
                "roots": self.roots,
                "entries": [_entry_dict(e) for e in self.entries],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Task:
        data = json.loads(text)
        entries = [_entry_of(e) for e in data["entries"]]
        return cls(data["index"], data["root"], entries, data["path"], data.get("roots"))

    def source(self) -> Source:
        """The task's items as a source (never pruned: a task sees part of its root)."""
        if self.path is not None:
            whole = open_source(Path(self.path), self.roots)
            return Source(whole.root, whole.items, prunable=False)
        return Source(self.root, self.entries, prunable=False)


def plan_tasks(spec: JobSpec, task_items: int) -> Iterator[Task]:
    """The tasks of ``spec``, numbered from 0; a path that is not a folder or manifest raises
    ``InvalidInputError`` before any task is made."""
    if spec.kind == "upload":
        sources: list[tuple[Source, str | None]] = [(upload_source(spec.items), None)]
    else:
        sources = [(open_source(Path(path), spec.roots), path) for path in spec.paths]
    sources = [(narrowed(source, spec.only), path) for source, path in sources]
    index = 0
    for source, path in sources:
        for task in _split(source, task_items, path):
            yield Task(index, task.root, task.entries, task.path, spec.roots)
            index += 1


def run_task(
    services: Services,
    task: Task,
    store: VectorStore,
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """Ingest one task's items into ``store`` with the worker's settings; the page renders it
    wrote that no point names are deleted at the end."""
    ingestor = make_ingestor(services, store, progress=progress, should_stop=should_stop)
    try:
        return ingestor.ingest(task.source())
    finally:
        discard_unused_pictures(ingestor, store, services.settings.files_dir)


def sum_reports(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One job report from its tasks' reports (``IngestReport.to_dict()`` shapes)."""
    total = IngestReport().to_dict()
    for report in reports:
        for name in ("seen", "written", "unchanged", "failed", "ignored", "truncated"):
            total[name] += report.get(name, 0)
        for name in ("points_written", "pruned", "retries"):
            total[name] += report.get(name, 0)
        room = MAX_FAILURES - len(total["failures"])
        total["failures"] += report.get("failures", [])[: max(room, 0)]
        room = MAX_FAILURES - len(total["near_duplicates"])
        total["near_duplicates"] += report.get("near_duplicates", [])[: max(room, 0)]
        total["stopped"] = total["stopped"] or report.get("stopped", False)
        total["elapsed_s"] = round(total["elapsed_s"] + report.get("elapsed_s", 0.0), 3)
    return total


def failed_task_report(task: Task, reason: str) -> dict[str, Any]:
    """The report of a task that could not run at all: each of its items failed with
    ``reason``."""
    report = IngestReport()
    items = [e for e in task.entries if not isinstance(e, Ignored)] or [task.path or task.root]
    for entry in items:
        source = entry.display if isinstance(entry, SourceItem) else str(entry)
        if isinstance(entry, ItemError):
            source = entry.source
        report.fail(ItemError(source, reason))
    return report.to_dict()


def _split(source: Source, size: int, path: str | None) -> Iterator[Task]:
    chunk: list[Entry] = []
    for entry in source.items:
        if not isinstance(entry, SourceItem | ItemError | Ignored):
            yield Task(0, source.root, path=path)  # an unknown kind of item: run it whole
            return
        chunk.append(entry)
        if len(chunk) >= size:
            yield Task(0, source.root, chunk)
            chunk = []
    if chunk:
        yield Task(0, source.root, chunk)


def _entry_dict(entry: Entry) -> dict[str, Any]:
    kind = {SourceItem: "item", ItemError: "error", Ignored: "ignored"}[type(entry)]
    data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(entry).items()}
    return {"kind": kind, **data}


_PATHS = ("image_file", "text_file", "root", "anchor", "key_file", "document_file")


def _entry_of(data: dict[str, Any]) -> Entry:
    kind = data.pop("kind")
    if kind == "error":
        return ItemError(**data)
    if kind == "ignored":
        return Ignored(**data)
    for name in _PATHS:
        if data.get(name) is not None:
            data[name] = Path(data[name])
    return SourceItem(**data)

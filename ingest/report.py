"""What an ingest run did: counters, and every failed item with its reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ItemError:
    """An item that was not ingested: where it came from and why (``index``: position in an
    upload request; ``attempts``: tries made; ``transient``: the last error was one that a later
    try may not meet, such as a server away, as opposed to a corrupt file)."""

    source: str
    reason: str
    index: int | None = None
    attempts: int = 1
    transient: bool = False


@dataclass
class IngestReport:
    """Counters of one run. ``seen`` = ``written`` + ``unchanged`` + ``len(failures)``."""

    seen: int = 0
    written: int = 0
    unchanged: int = 0
    failures: list[ItemError] = field(default_factory=list)
    ignored: int = 0
    """Files that are not items (other extensions, hidden files, symlinked folders)."""
    truncated: int = 0
    """Written items whose text was longer than the model's context (``long_text=truncate``)."""
    passage_truncated: int = 0
    """Written items with a text longer than the passage model's token limit (cut there)."""
    points_written: int = 0
    pruned: int = 0
    documents: int = 0
    """Documents read (their pages, figures and passages count as items)."""
    replaced: int = 0
    """Points of changed documents deleted because the new version no longer has them."""
    remote_images: int = 0
    """Remote pictures of HTML/Markdown documents, not fetched."""
    notes: list[ItemError] = field(default_factory=list)
    """What documents lost without failing: pages over the cap, cut text, refused pictures."""
    retries: int = 0
    """Tries made again after a transient error (of an item, or of a batch's write)."""
    near_duplicates: list[ItemError] = field(default_factory=list)
    """Written pictures within MMRAG_INGEST__DUPLICATE_THRESHOLD of an earlier point: kept,
    with ``duplicate_of`` naming that point."""
    stopped: bool = False
    """The run was stopped (worker shutdown, cancelled job) before it saw every item."""
    elapsed_s: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def fail(self, error: ItemError) -> None:
        self.seen += 1
        self.failures.append(error)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the counters, ``failed`` and ``failures`` (source, reason, index)."""
        data = asdict(self)
        data["failed"] = self.failed
        data["elapsed_s"] = round(self.elapsed_s, 3)
        return data


class ProgressSink(Protocol):
    """Receives the running report after each batch (a progress bar, log lines, a job row)."""

    def update(self, report: IngestReport) -> None: ...

"""A child process that reads sources the way ingest's first two stages do, one request a line.

``python -m tests.fuzz.reader_worker DATA_DIR CPU_S RSS_MIB`` reads JSON lines
``{"path": ..., "settings": {...}}`` (a folder or a manifest, and ``IngestSettings``
overrides) on stdin and answers one JSON line each: every entry's outcome (``ok``, ``refused``
with its reason, ``crash`` with the exception ingest would only call "unexpected"), whether
walking the source itself raised, and the CPU seconds and peak RSS growth the read cost.

A watchdog answers for a read that goes past the CPU or RSS budget (``argv[2]`` seconds,
``argv[3]`` MiB) and ends the process, so a runaway read costs no more than its budget.
Its address space is capped (``RLIMIT_AS``) a little above what the tests allow, so a reader
that blows up fails here with a ``MemoryError`` instead of taking the machine's memory.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

AS_HEADROOM = 3 * 1024**3
"""Address space a read may add before allocations fail (above the tests' RSS budget)."""


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # VmHWM := VmRSS


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Reader:
    """Ingest's readers under default settings: read, then decode each picture on the host."""

    def __init__(self, data_dir: Path, overrides: dict[str, Any]) -> None:
        from ingest.documents.passages import split_passages
        from ingest.documents.pictures import PictureStore
        from ingest.documents.reader import DocumentReader
        from ingest.reading import ItemReader
        from rag.config import IngestSettings

        # LibreOffice's page pictures have their own bounds and tests (tests/ingest/
        # test_office_pages.py); here the budgets are mmrag's readers' own, as in-process tests
        # (tests/conftest.py) leave it out too: a conversion costs seconds a document.
        self.settings = IngestSettings(**{"office_pages": False, **overrides})
        split = partial(split_passages, count_tokens=lambda words: [3] * len(words), max_tokens=77)
        self.items = ItemReader("fuzz", self.settings, lambda text: [text])
        self.documents = DocumentReader(
            "fuzz", self.settings, PictureStore(data_dir / "documents"), split
        )

    def read(self, path: Path) -> dict[str, Any]:
        from ingest.items import SourceItem
        from ingest.report import ItemError
        from ingest.sources import open_source
        from rag.errors import InvalidInputError

        outcomes: list[dict[str, str]] = []
        walk_error = None
        try:
            for entry in open_source(path).items:
                if isinstance(entry, ItemError):
                    outcomes.append({"outcome": "refused", "reason": entry.reason})
                elif isinstance(entry, SourceItem):
                    outcomes.append(self._item(entry))
        except InvalidInputError as exc:
            outcomes.append({"outcome": "refused", "reason": str(exc)})
        except Exception as exc:  # the walk itself broke: the whole source would fail
            walk_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        return {"items": outcomes, "walk_error": walk_error}

    def _item(self, item: Any) -> dict[str, str]:
        from rag.errors import InvalidInputError

        try:
            if item.document_file is not None:
                read = self.documents.read(item)
                for part in read.items:
                    self._decode(part)
                return {"outcome": "ok", "reason": f"{len(read.items)} items; {read.notes[:3]}"}
            self._decode(self.items.read(item))
            return {"outcome": "ok", "reason": ""}
        except InvalidInputError as exc:
            return {"outcome": "refused", "reason": str(exc)[:500]}
        except Exception as exc:
            return {"outcome": "crash", "reason": f"{type(exc).__name__}: {str(exc)[:500]}"}

    def _decode(self, read: Any) -> None:
        from ingest.images import decode_image

        data = read.image_bytes
        if data is None and read.picture_file is not None:
            data = read.picture_file.read_bytes()
        if data is not None:
            decode_image(data, self.settings.max_image_pixels, 224)


def main() -> None:
    import docx  # noqa: F401 - every reader's library loaded before the address space is capped
    import markdown_it  # noqa: F401
    import pptx  # noqa: F401
    import pypdfium2  # noqa: F401

    data_dir = Path(sys.argv[1])
    readers = {"{}": Reader(data_dir, {})}
    limit = _status_kib("VmSize") * 1024 + AS_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(json.dumps({"ready": os.getpid()}), flush=True)
    cpu_budget, rss_budget_kib = float(sys.argv[2]), int(sys.argv[3]) * 1024
    for line in sys.stdin:
        request = json.loads(line)
        overrides = request.get("settings", {})
        key = json.dumps(overrides, sort_keys=True)
        reader = readers.get(key) or readers.setdefault(key, Reader(data_dir, overrides))
        _answer(reader, Path(request["path"]), cpu_budget, rss_budget_kib)


def _answer(reader: Reader, path: Path, cpu_budget: float, rss_budget_kib: int) -> None:
    """Read ``path`` and print the answer with its cost; past a budget, a watchdog prints one
    at once and ends the process (the read may never end)."""
    rss = _status_kib("VmRSS")
    _reset_peak()
    cpu, wall = _cpu(), time.monotonic()
    done, answered = threading.Event(), threading.Lock()

    def cost(answer: dict[str, Any]) -> str:
        answer["cpu_s"] = round(_cpu() - cpu, 3)
        answer["wall_s"] = round(time.monotonic() - wall, 3)
        answer["rss_growth_mib"] = round((_status_kib("VmHWM") - rss) / 1024, 1)
        return json.dumps(answer)

    def watch() -> None:
        while not done.wait(0.05):
            if _cpu() - cpu > cpu_budget or _status_kib("VmRSS") - rss > rss_budget_kib:
                with answered:
                    if done.is_set():
                        return
                    aborted = {"items": [], "walk_error": None, "aborted": "over a budget"}
                    print(cost(aborted), flush=True)
                    os._exit(3)

    threading.Thread(target=watch, daemon=True).start()
    answer = reader.read(path)
    with answered:
        done.set()
        print(cost(answer), flush=True)


if __name__ == "__main__":
    main()

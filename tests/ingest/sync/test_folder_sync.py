"""A folder source: syncs follow added, edited, renamed and deleted files (a PDF whole)."""

from __future__ import annotations

from pathlib import Path

from ingest.specs import JobSpec
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry
from ingest.sync.run import run_sync
from rag.services import Services
from tests.ingest.documents_draw import write_pdf
from tests.ingest.draw import image_bytes
from tests.ingest.sync.conftest import sources_of


def _folder(root: Path) -> Path:
    folder = root / "docs"
    folder.mkdir()
    (folder / "cat.png").write_bytes(image_bytes(1))
    (folder / "cat.txt").write_text("a grey cat", encoding="utf-8")
    (folder / "note.txt").write_text("the meeting is on Tuesday", encoding="utf-8")
    write_pdf(folder / "manual.pdf")
    return folder


def _sync(services: Services, name: str = "docs"):
    return run_sync(services, JobSpec.for_source(name, None, None))


def test_second_sync_of_an_unchanged_folder_writes_nothing(
    synced: Services, registry: SourceRegistry, root: Path
) -> None:
    folder = _folder(root)
    registry.add(SourceConfig(name="docs", kind="folder", location=str(folder)))
    first = _sync(synced)
    assert first.failed == 0 and first.points_written > 0
    again = _sync(synced)
    assert again.points_written == 0 and again.unchanged == again.seen
    state = registry.get("docs").state
    assert state.last_ok_at is not None and state.error is None and state.points_written == 0


def test_sync_follows_edits_renames_and_deletes_and_drops_a_pdf_whole(
    synced: Services, registry: SourceRegistry, root: Path
) -> None:
    folder = _folder(root)
    registry.add(SourceConfig(name="docs", kind="folder", location=str(folder)))
    _sync(synced)
    before = sources_of(synced, str(folder))
    assert before["manual.pdf"] > 3  # pages, figures and passages
    (folder / "note.txt").write_text("the meeting moved to Friday", encoding="utf-8")
    (folder / "cat.png").rename(folder / "kitten.png")
    (folder / "cat.txt").rename(folder / "kitten.txt")
    (folder / "manual.pdf").unlink()
    (folder / "new.txt").write_text("a new note", encoding="utf-8")
    report = _sync(synced)
    after = sources_of(synced, str(folder))
    assert set(after) == {"note.txt", "kitten.png", "new.txt"}
    assert report.written == 2  # the edited and the new note; the renamed picture moved
    state = registry.get("docs").state
    assert state.moved == 1 and state.deleted >= before["manual.pdf"] + before["cat.png"] - 1
    assert synced.store_for(None).count() == sum(after.values())


def test_a_renamed_pdf_moves_without_being_embedded_again(
    synced: Services, registry: SourceRegistry, root: Path
) -> None:
    folder = _folder(root)
    registry.add(SourceConfig(name="docs", kind="folder", location=str(folder)))
    _sync(synced)
    points = sources_of(synced, str(folder))["manual.pdf"]
    (folder / "manual.pdf").rename(folder / "guide.pdf")
    report = _sync(synced)
    after = sources_of(synced, str(folder))
    assert "manual.pdf" not in after and after["guide.pdf"] == points
    assert report.points_written == 0

"""Bad parts of a source fail alone: huge CSV fields, captions files outside the folder,
unreadable folders (reported, never pruned)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.folder import folder_source
from ingest.items import SourceItem, Unreadable
from ingest.manifest import manifest_source
from ingest.report import ItemError
from ingest.runner import ingest_paths
from rag import payload as keys
from tests.ingest.checks import all_points
from tests.ingest.draw import captioned_folder, save

BIG = "x" * (200 * 1024)  # over the csv module's 128 KiB field limit


def test_a_csv_field_over_128_kib_fails_its_line_only(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"image,text\n,first\n,{BIG}\n,third\n", encoding="utf-8")
    found = list(manifest_source(manifest).items)
    texts = [f.text for f in found if isinstance(f, SourceItem)]
    errors = [f for f in found if isinstance(f, ItemError)]
    assert texts == ["first", "third"]
    assert len(errors) == 1 and "unreadable CSV line" in errors[0].reason


def test_a_huge_captions_field_does_not_stop_the_run(services, folder: Path) -> None:
    captioned_folder(folder, 3)
    save(folder / "big.png", 7)
    (folder / "captions.csv").write_text(f"image,text\nbig.png,{BIG}\n", encoding="utf-8")
    report = ingest_paths(services, [folder])
    assert report.written == 4 and report.failed == 1
    assert "unreadable CSV line" in report.failures[0].reason


def test_a_root_captions_file_linking_outside_is_not_read(folder: Path, tmp_path: Path) -> None:
    save(folder / "a.png", 1)
    outside = tmp_path / "secret.jsonl"
    outside.write_text('{"image": "a.png", "text": "a secret caption"}\n', encoding="utf-8")
    os.symlink(outside, folder / "captions.jsonl")
    found = list(folder_source(folder).items)
    (item,) = [f for f in found if isinstance(f, SourceItem)]
    assert item.text is None
    (error,) = [f for f in found if isinstance(f, ItemError)]
    assert "captions.jsonl" in error.source and "symlink" in error.reason


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` unlistable, also for root (who ignores permission bits); the walk lists
    folders by their descriptors."""
    real_scandir = os.scandir
    denied = os.stat(folder)

    def scandir(path: object = ".") -> object:
        if isinstance(path, int) and os.path.samestat(os.fstat(path), denied):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_folder_is_reported(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captioned_folder(folder / "ok", 2)
    captioned_folder(folder / "locked", 2, start=10)
    _deny(monkeypatch, folder / "locked")
    found = list(folder_source(folder).items)
    (unread,) = [f for f in found if isinstance(f, Unreadable)]
    assert unread.path == "locked" and "not readable" in unread.error.reason
    assert len([f for f in found if isinstance(f, SourceItem)]) == 2


def test_prune_keeps_the_points_of_an_unreadable_folder(
    services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned_folder(folder / "ok", 2)
    captioned_folder(folder / "locked", 2, start=10)
    captioned_folder(folder / "gone", 1, start=20)
    assert ingest_paths(services, [folder]).written == 5
    for name in ("img020.png", "img020.txt"):
        (folder / "gone" / name).unlink()
    _deny(monkeypatch, folder / "locked")
    report = ingest_paths(services, [folder], prune=True)
    assert report.pruned == 1 and report.failed == 1
    assert "locked" in report.failures[0].source
    sources = sorted(p.payload[keys.SOURCE] for p in all_points(services.store))
    assert sources == [
        "locked/img010.png",
        "locked/img011.png",
        "ok/img000.png",
        "ok/img001.png",
    ]


def test_an_unreadable_root_prunes_nothing(
    services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned_folder(folder, 2)
    ingest_paths(services, [folder])
    _deny(monkeypatch, folder)
    report = ingest_paths(services, [folder], prune=True)
    assert (report.pruned, report.failed) == (0, 1)
    assert len(all_points(services.store)) == 2


def test_a_failed_upload_job_deletes_its_staged_files(
    services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import worker as worker_module
    from ingest.jobs import JobQueue
    from ingest.specs import JobSpec, JobState
    from ingest.uploads import Upload, stage_uploads, uploads_dir
    from ingest.worker import IngestWorker
    from rag.errors import StoreError
    from tests.ingest.draw import image_bytes

    staged = stage_uploads([Upload(image=image_bytes(3), text="doomed")], services.settings)
    (path,) = [Path(item.image_path) for item in staged.items]
    assert path.exists() and path.is_relative_to(uploads_dir(services.settings.data_dir).resolve())
    queue = JobQueue(tmp_path / "jobs.sqlite3")
    job_id = queue.submit(JobSpec.for_uploads(staged.items))

    def broken(*args: object, **kwargs: object) -> None:
        raise StoreError("the store broke")

    monkeypatch.setattr(worker_module, "run_spec", broken)
    assert IngestWorker(services, queue).run_once() == job_id
    assert queue.get(job_id).state == JobState.FAILED
    assert not path.exists()


def test_a_write_that_fails_on_a_full_disk_leaves_no_part_file(
    services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from PIL import Image

    from ingest.documents.pictures import PictureStore
    from ingest.uploads import Upload, stage_uploads
    from rag.errors import StorageFullError
    from tests.ingest.draw import image_bytes

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)  # the last step of a whole write fails
    with pytest.raises(OSError):
        PictureStore(tmp_path / "renders").save(Image.new("RGB", (8, 8), (1, 2, 3)))
    with pytest.raises(StorageFullError):
        stage_uploads([Upload(image=image_bytes(4), text="x")], services.settings)
    parts = [*tmp_path.rglob("*.part"), *services.settings.data_dir.rglob("*.part")]
    assert parts == []

"""Every file ingest and the API open is reached without a symlink in any component
(:mod:`rag.safe_open`): a symlink in a middle folder is refused even when it stays inside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.runner import ingest_paths
from rag.safe_open import UnsafePathError, open_under, read_fd
from tests.ingest.draw import save


def test_a_symlink_in_a_middle_component_of_a_manifest_path_is_refused(
    services, tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    save(folder / "real" / "a.png", 1)
    save(folder / "real" / "b.png", 2)
    (folder / "alias").symlink_to(folder / "real", target_is_directory=True)
    manifest = folder / "m.jsonl"
    manifest.write_text('{"image": "alias/a.png"}\n{"image": "real/b.png"}\n', encoding="utf-8")
    report = ingest_paths(services, [manifest])
    assert (report.written, report.failed) == (1, 1)
    (failure,) = report.failures
    assert (
        failure.source.endswith("m.jsonl:1")
        and "alias/a.png is reached through a symlink" in failure.reason
    )


def test_open_under_walks_without_following_symlinks(tmp_path: Path) -> None:
    root = tmp_path.resolve() / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "link").symlink_to(root / "d", target_is_directory=True)
    (root / "d" / "out.txt").symlink_to(tmp_path / "secret.txt")
    os.mkfifo(root / "d" / "fifo")
    assert read_fd(open_under(root / "d" / "f.txt", [root]), 100) == b"inside"
    for path in (root / "link" / "f.txt", root / "d" / "out.txt"):
        with pytest.raises(UnsafePathError, match="symlink"):
            open_under(path, [root])
    with pytest.raises(UnsafePathError, match="outside"):
        open_under(tmp_path / "secret.txt", [root])
    with pytest.raises(UnsafePathError, match="outside"):
        open_under(root / ".." / "secret.txt", [root])
    with pytest.raises(UnsafePathError, match="not a regular file"):
        open_under(root / "d" / "fifo", [root])
    with pytest.raises(UnsafePathError, match="absolute"):
        open_under("d/f.txt", [root])


def test_a_planned_task_opens_its_files_from_the_root_again(services, tmp_path: Path) -> None:
    """Regression guard for the Redis queue: a task planned under the roots, whose folder is then
    swapped for a symlink, reads nothing from outside when it runs."""
    from ingest.specs import JobSpec
    from ingest.tasks import Task, plan_tasks, run_task
    from tests.ingest.draw import captioned_folder

    roots, outside = tmp_path.resolve() / "roots", tmp_path / "outside"
    folder = captioned_folder(roots / "set", 2)
    captioned_folder(outside, 2)
    spec = JobSpec(paths=[str(folder)], roots=[str(roots)])
    (task,) = [Task.from_json(task.to_json()) for task in plan_tasks(spec, 10)]
    assert task.roots == [str(roots)]
    folder.rename(tmp_path / "moved")
    folder.symlink_to(outside, target_is_directory=True)
    report = run_task(services, task, services.store)
    assert (report.written, report.failed) == (0, 2)
    assert all("symlink" in failure.reason for failure in report.failures)

"""Backup and restore (``ingest.backup``, ``POST /v1/admin/backup``, ``mmrag backup|restore``):
a backup taken while an ingest runs restores into an empty data folder with the same points,
search results and job history as the server held at that moment; a damaged, partial or
truncated backup is refused before anything is written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from ingest.backup import restore_backup, take_backup
from ingest.jobs import DB_FILE, JobQueue
from rag.backup_format import MANIFEST, BackupError, verify_backup
from rag.retrieval.types import Query
from rag.services import Services
from rag.tenancy import TERM_KEY_FILE
from tests.api.conftest import png_bytes


def _upload(client: TestClient, start: int, count: int) -> str:
    files = [
        ("files", (f"p{n}.png", png_bytes(((n * 37) % 256, (n * 91) % 256, 40)), "image/png"))
        for n in range(start, start + count)
    ]
    texts = [f"picture number {n}" for n in range(start, start + count)]
    response = client.post("/v1/ingest", files=files, data={"texts": texts})
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _wait(client: TestClient, job_id: str, states: tuple[str, ...], timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/ingest/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


def _points(services: Services) -> dict[str, str]:
    found, offset = {}, None
    while True:
        page, offset = services.store.scroll(limit=256, offset=offset)
        found |= {point.id: point.payload.get("content_hash") for point in page}
        if offset is None:
            return found


def _search(services: Services) -> list[tuple[str, float]]:
    result = services.retriever.search(Query(text="picture number 3", top_k=5))
    return [(hit.id, round(hit.scores.fused, 6)) for hit in result.hits]


def _history(data_dir: Path) -> dict[str, tuple[str, str]]:
    return {
        job.id: (job.state.value, str(job.created_at))
        for job in JobQueue(data_dir / DB_FILE).jobs(100)
    }


@pytest.fixture
def served(make_settings, tmp_path: Path):
    settings = make_settings(tmp_path / "data", ingest={"batch_size": 2}, passage={"model": "none"})
    services = Services(settings)
    with TestClient(create_app(services=services)) as client:
        yield client, services
    services.close()


def test_backup_during_an_ingest_restores_the_same_points_searches_and_jobs(
    served, make_settings, tmp_path: Path
) -> None:
    client, services = served
    first = _upload(client, 0, 4)
    _wait(client, first, ("done",))
    running = _upload(client, 100, 30)
    _wait(client, running, ("running",))
    seen: dict[str, object] = {}

    def record() -> None:  # runs while writes wait: exactly what the backup holds
        seen.update(points=_points(services), hits=_search(services))

    manifest = take_backup(services, tmp_path / "backup", while_paused=record)
    client.delete(f"/v1/ingest/{running}")
    _wait(client, running, ("done", "cancelled"))
    assert 4 <= len(seen["points"]) < 34, "the backup was not taken during the ingest"
    assert manifest["collections"] == {services.store.collection: len(seen["points"])}
    assert manifest["uploads"] >= 4
    if (services.settings.files_dir / TERM_KEY_FILE).exists():
        assert any(e["path"] == f"files/{TERM_KEY_FILE}" for e in manifest["files"])

    restored = make_settings(tmp_path / "restored", passage={"model": "none"})
    restore_backup(tmp_path / "backup", restored)
    again = Services(restored)
    try:
        assert _points(again) == seen["points"]
        assert _search(again) == seen["hits"]
    finally:
        again.close()
    history = _history(restored.data_dir)
    live = _history(services.settings.data_dir)
    assert set(history) == set(live) == {first, running}
    assert history[first] == live[first] == ("done", history[first][1])
    assert history[running][0] in ("queued", "running")


def test_admin_route_writes_a_verified_backup_admins_only(make_settings, tmp_path: Path) -> None:
    keys = "admin-key:*:admin,reader-key:t1:read"
    settings = make_settings(tmp_path / "data", api_keys=keys)
    services = Services(settings)
    try:
        with TestClient(create_app(services=services)) as client:
            reader = client.post("/v1/admin/backup", headers={"X-API-Key": "reader-key"})
            assert reader.status_code == 403
            admin = {"X-API-Key": "admin-key"}
            response = client.post("/v1/admin/backup", json={"name": "nightly"}, headers=admin)
            assert response.status_code == 200, response.text
            body = response.json()
            again = client.post("/v1/admin/backup", json={"name": "nightly"}, headers=admin)
            assert again.status_code == 400 and "exists" in again.json()["message"]
            bad = client.post("/v1/admin/backup", json={"name": "../x"}, headers=admin)
            assert bad.status_code == 422
    finally:
        services.close()
    assert body["engine"] == "edge" and body["files"] > 0
    assert verify_backup(Path(body["path"]))["format"] == "mmrag-backup"


@pytest.fixture(scope="module")
def backup_dir(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one-backup")
    services = Services(make_settings(root / "data", passage={"model": "none"}))
    try:
        with TestClient(create_app(services=services)) as client:
            _wait(client, _upload(client, 0, 4), ("done",))
            take_backup(services, root / "backup")
    finally:
        services.close()
    return root / "backup"


def _damaged_copy(backup: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    import shutil

    copy = tmp_path / "damaged"
    shutil.copytree(backup, copy)
    names = [entry["path"] for entry in json.loads((copy / MANIFEST).read_text())["files"]]
    return copy, names


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda copy, names: _flip_byte(copy / names[0]), "does not match its checksum"),
        (lambda copy, names: (copy / names[-1]).unlink(), "is missing"),
        (lambda copy, names: (copy / DB_FILE).write_bytes(b""), "bytes,"),
        (lambda copy, names: (copy / MANIFEST).unlink(), "cut short"),
        (lambda copy, names: (copy / "extra.bin").write_bytes(b"x"), "not part of the backup"),
    ],
    ids=["flipped-byte", "missing-file", "truncated-file", "no-manifest-as-after-kill", "extra"],
)
def test_a_damaged_backup_is_refused_and_nothing_is_restored(
    backup_dir: Path, make_settings, tmp_path: Path, damage, words: str
) -> None:
    copy, names = _damaged_copy(backup_dir, tmp_path)
    damage(copy, names)
    target = make_settings(tmp_path / "restored")
    with pytest.raises(BackupError, match=words):
        restore_backup(copy, target)
    assert not target.data_dir.exists() or not any(target.data_dir.iterdir())


def test_a_backup_killed_mid_write_is_refused(backup_dir: Path, make_settings, tmp_path: Path):
    """A backup process killed with -9 while it copies: no manifest was written."""
    import os
    import signal
    import subprocess
    import sys

    dest = tmp_path / "cut"
    code = (
        "import time, sys\n"
        "from pathlib import Path\n"
        "from rag.backup_format import BackupWriter\n"
        "w = BackupWriter(Path(sys.argv[1]))\n"
        "for n, path in enumerate(sorted(Path(sys.argv[2]).rglob('*'))):\n"
        "    if path.is_file() and path.name != 'MANIFEST.json':\n"
        "        w.copy_file(path, f'f{n}')\n"
        "print('copied', flush=True)\n"
        "time.sleep(60)\n"
        "w.finish({})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(dest), str(backup_dir)], stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"copied"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with pytest.raises(BackupError, match="cut short"):
        restore_backup(dest, make_settings(tmp_path / "restored"))


def test_restore_only_into_an_empty_data_folder(backup_dir: Path, make_settings, tmp_path):
    target = make_settings(tmp_path / "busy")
    target.data_dir.mkdir(parents=True)
    (target.data_dir / "something").write_text("here")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(backup_dir, target)
    assert sorted(p.name for p in target.data_dir.iterdir()) == ["something"]


def test_backup_refuses_a_folder_that_is_not_empty(make_settings, tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "x").write_text("x")
    services = Services(make_settings(tmp_path / "data"))
    try:
        with pytest.raises(BackupError, match="not an empty folder"):
            take_backup(services, tmp_path / "dest")
    finally:
        services.close()


def test_cli_backup_and_restore(backup_dir: Path, tiny_env, tmp_path: Path, monkeypatch) -> None:
    """``mmrag restore`` into an empty folder, then ``mmrag backup`` of it; while a store is
    open on the data folder, ``mmrag backup`` points to the admin route."""
    from typer.testing import CliRunner

    from mmrag_cli.main import app
    from rag.store import edge_path
    from rag.store.locking import FolderLock

    monkeypatch.setenv("MMRAG_DATA_DIR", str(tmp_path / "fresh"))
    runner = CliRunner()
    restored = runner.invoke(app, ["restore", str(backup_dir)])
    assert restored.exit_code == 0, restored.output
    again = runner.invoke(app, ["backup", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    again_files = {e["path"]: e["sha256"] for e in verify_backup(tmp_path / "again")["files"]}
    first = {e["path"]: e["sha256"] for e in verify_backup(backup_dir)["files"]}
    assert again_files.keys() == first.keys()
    lock = FolderLock.acquire(edge_path(tmp_path / "fresh", "mmrag"))
    try:
        locked = runner.invoke(app, ["backup", str(tmp_path / "locked")])
    finally:
        lock.release()
    assert locked.exit_code != 0 and "POST /v1/admin/backup" in locked.output

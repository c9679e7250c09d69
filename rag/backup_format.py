"""The on-disk form of an mmrag backup: a folder of copied files and ``MANIFEST.json``, which
lists every file with its size and SHA-256 and is written last (atomically). A backup without
its manifest was cut short; a file missing, shortened, changed or added makes it damaged.

Example::

    writer = BackupWriter(dest)                  # dest: a new or empty folder
    writer.copy_file(src, "jobs.sqlite3")        # hashed as it is copied
    writer.finish({"engine": "edge"})            # re-reads every file, then writes the manifest
    manifest = verify_backup(dest)               # BackupError when anything is off

Nothing here knows what the files are: the callers (``ingest.backup``) name them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InvalidInputError

MANIFEST = "MANIFEST.json"
FORMAT = "mmrag-backup"
VERSION = 1
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)


class BackupError(InvalidInputError):
    """A backup that cannot be written, or one that is damaged, partial or of another format."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    """Relative to the backup folder, with ``/`` separators."""
    size: int
    sha256: str


def _copy_hashed(src: Path, dest: Path, sync: bool = True) -> FileEntry:
    """Copy ``src`` to ``dest`` (fsynced when ``sync``), hashing the bytes as they pass. Runs of
    zeros stay holes (Qdrant preallocates its WAL and mmap files: mostly holes)."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as reader, open(dest, "wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            if chunk == _ZEROS[: len(chunk)]:
                writer.seek(len(chunk), os.SEEK_CUR)
            else:
                writer.write(chunk)
            size += len(chunk)
        writer.truncate(size)
        writer.flush()
        if sync:
            os.fsync(writer.fileno())
    return FileEntry("", size, digest.hexdigest())


def file_digest(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of the file at ``path``."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _relative_files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root, name).relative_to(folder)


def _check_name(name: str) -> str:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or name == MANIFEST:
        raise BackupError(f"not a backup file name: {name!r}")
    return Path(name).as_posix()


class BackupWriter:
    """Writes one backup into ``dest`` (a folder that does not exist yet, or an empty one)."""

    def __init__(self, dest: Path) -> None:
        self.dest = Path(dest)
        if self.dest.exists() and (not self.dest.is_dir() or any(self.dest.iterdir())):
            raise BackupError(f"{self.dest} is not an empty folder: back up into a new one")
        self.dest.mkdir(parents=True, exist_ok=True)
        self._entries: dict[str, FileEntry] = {}

    def copy_file(self, src: Path, name: str) -> FileEntry:
        """Copy the file ``src`` into the backup as ``name``."""
        name = _check_name(name)
        entry = _copy_hashed(Path(src), self.dest / name)
        self._entries[name] = FileEntry(name, entry.size, entry.sha256)
        return self._entries[name]

    def copy_tree(self, src: Path, prefix: str, skip: tuple[str, ...] = ()) -> int:
        """Copy every regular file under ``src`` into ``prefix/``; files that vanish while
        copying (a finished job's uploads) are left out. Returns the number copied."""
        copied = 0
        for relative in _relative_files(Path(src)):
            if relative.name in skip or (Path(src) / relative).is_symlink():
                continue
            try:
                self.copy_file(Path(src) / relative, f"{prefix}/{relative.as_posix()}")
            except FileNotFoundError:
                continue
            copied += 1
        return copied

    def add_name(self, name: str) -> Path:
        """The path of a file the caller writes itself (e.g. a SQLite copy); it is hashed in
        :meth:`finish`."""
        name = _check_name(name)
        path = self.dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self._entries[name] = FileEntry(name, -1, "")
        return path

    def finish(self, info: dict[str, Any]) -> dict[str, Any]:
        """Re-read every written file against its checksum, then write ``MANIFEST.json``
        atomically (the backup is complete only from then on). Returns the manifest."""
        for name, entry in list(self._entries.items()):
            size, sha = file_digest(self.dest / name)
            if entry.size >= 0 and (size, sha) != (entry.size, entry.sha256):
                raise BackupError(f"{name} changed on disk while the backup was written")
            self._entries[name] = FileEntry(name, size, sha)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **info,
            "files": [vars(entry) for entry in sorted(self._entries.values(), key=_by_path)],
        }
        temporary = self.dest / (MANIFEST + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.dest / MANIFEST)
        _fsync_dir(self.dest)
        return manifest


def _by_path(entry: FileEntry) -> str:
    return entry.path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup at ``src``; BackupError when it is missing or unreadable."""
    path = Path(src) / MANIFEST
    if not path.is_file():
        raise BackupError(
            f"{src} has no {MANIFEST}: not a backup, or one cut short while it was written"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path} is damaged: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not an mmrag backup manifest")
    if manifest.get("version") != VERSION:
        raise BackupError(f"backup format {manifest.get('version')!r}: this mmrag reads {VERSION}")
    return manifest


def verify_backup(src: Path) -> dict[str, Any]:
    """Check every file of the backup at ``src`` against its manifest: none missing, shortened,
    changed or added. Returns the manifest; raises BackupError naming every problem."""
    src = Path(src)
    manifest = read_manifest(src)
    problems: list[str] = []
    listed: set[str] = set()
    for entry in manifest.get("files", []):
        name = _check_name(str(entry["path"]))
        listed.add(name)
        path = src / name
        if not path.is_file() or path.is_symlink():
            problems.append(f"{name} is missing")
            continue
        size, sha = file_digest(path)
        if size != entry["size"]:
            problems.append(f"{name} has {size} bytes, {entry['size']} were written")
        elif sha != entry["sha256"]:
            problems.append(f"{name} does not match its checksum")
    extra = {p.as_posix() for p in _relative_files(src)} - listed - {MANIFEST}
    problems += [f"{name} is not part of the backup" for name in sorted(extra)]
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise BackupError(f"the backup at {src} is damaged: {shown}")
    return manifest


def restore_file(src: Path, dest: Path, entry: dict[str, Any]) -> None:
    """Copy one verified backup file to ``dest``, checking its checksum again as it is copied
    (not fsynced: a restore cut short is started again into an empty folder)."""
    written = _copy_hashed(src, dest, sync=False)
    if (written.size, written.sha256) != (entry["size"], entry["sha256"]):
        raise BackupError(f"{entry['path']} changed while it was restored")


def remove_contents(folder: Path) -> None:
    """Empty ``folder`` (after a failed restore into it, which found it empty)."""
    for child in Path(folder).iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()

"""Open a file a path names without trusting the path: every component below a trusted folder
is opened ``openat``-style (relative to its parent's descriptor, ``O_NOFOLLOW``), so no symlink
anywhere on the way is followed, and the checks hold for the descriptor that is then read.

Every place that opens a server path, a sidecar, a manifest's file, a document, a stored picture
goes through here; a check made earlier (at submit, at ingest) is never trusted at open time.

Example::

    fd = open_under("/srv/photos/a/cat.png", [Path("/srv/photos")])
    data = read_fd(fd, max_bytes=50_000_000)
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rag import payload as keys
from rag.errors import InvalidInputError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ANY = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

Kind = Literal["file", "dir", "any"]
"""What the path must be: a regular file, a folder, or either."""


class UnsafePathError(InvalidInputError):
    """A path that leaves its folder, passes a symlink, or is not the kind of file asked for."""


class MissingFileError(InvalidInputError):
    """Nothing at the path (or a component of it is missing)."""


class TransientReadError(InvalidInputError):
    """A file could not be opened for a reason that may pass (an I/O error, a busy or stale
    network mount, too many open files): an ingest tries it again (``transient``)."""

    transient = True


_TRANSIENT_ERRNOS = frozenset(
    {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.ESTALE}
    | {errno.EMFILE, errno.ENFILE}
)


def open_under(path: str | Path, roots: Sequence[Path], kind: Kind = "file") -> int:
    """A descriptor of ``path``, which must be absolute and lie under one of ``roots`` (real
    folders, trusted as they are) with no symlink in any component below it."""
    given = Path(os.path.normpath(path))
    if not given.is_absolute():
        raise UnsafePathError(f"{path}: not an absolute path")
    for root in roots:
        if given.is_relative_to(root):
            return open_beneath(root, given, kind)
    raise UnsafePathError(f"{path} is outside the folders it may be read from")


def open_beneath(anchor: Path, path: Path, kind: Kind = "file") -> int:
    """A descriptor of ``path`` (absolute, under ``anchor``), reached from ``anchor`` one
    component at a time without following a symlink. ``anchor`` itself is opened as it is."""
    try:
        rel = Path(os.path.normpath(path)).relative_to(anchor)
    except ValueError:
        raise UnsafePathError(f"{path} leaves {anchor}") from None
    parts = [part for part in rel.parts if part != "."]
    if ".." in parts:
        raise UnsafePathError(f"{path} leaves {anchor} (through '..')")
    try:
        fd = os.open(anchor, _DIR & ~os.O_NOFOLLOW)
    except OSError as exc:
        raise _refusal(exc, anchor) from None
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        flags = (_ANY | (os.O_DIRECTORY if kind == "dir" else 0)) if last else _DIR
        fd = _step(fd, part, flags, path)  # closes the parent, opened or not
    try:
        _check_kind(fd, kind, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_nofollow(path: Path) -> int:
    """A descriptor of the regular file ``path`` whose last component is not a symlink (for
    paths mmrag itself wrote and resolved, such as staged uploads)."""
    try:
        fd = os.open(path, _ANY)
    except OSError as exc:
        raise _refusal(exc, path) from None
    try:
        _check_kind(fd, "file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_fd(fd: int, max_bytes: int) -> bytes:
    """The bytes of the open regular file ``fd`` (closed after), at most ``max_bytes``."""
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise InvalidInputError(
                f"file is {size} bytes, over the cap of {max_bytes} "
                "(raise MMRAG_INGEST__MAX_FILE_BYTES to accept it)"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInputError(f"file grew past the cap of {max_bytes} bytes while being read")
    return data


def stored_file_roots(base: Sequence[str | Path], payload: dict[str, Any]) -> list[Path]:
    """Folders a point's stored files (picture, document original) may lie under: ``base``
    (the data and shared files folders) and the point's ingest root (a manifest's folder)."""
    roots = [Path(root) for root in base]
    source_root = payload.get(keys.SOURCE_ROOT)
    if isinstance(source_root, str) and os.path.isabs(source_root):
        root = Path(source_root)
        roots.append(root.parent if root.suffix.lower() in (".jsonl", ".csv") else root)
    return [Path(os.path.realpath(root)) for root in roots]


def _step(fd: int, name: str, flags: int, path: Path) -> int:
    """Open ``name`` in the folder ``fd`` (closed here, whatever happens)."""
    try:
        return os.open(name, flags, dir_fd=fd)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR and _is_symlink(name, fd):
            exc = OSError(errno.ELOOP, os.strerror(errno.ELOOP))
        raise _refusal(exc, path) from None
    finally:
        os.close(fd)


def _is_symlink(name: str, fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_kind(fd: int, kind: Kind, path: Path) -> None:
    mode = os.fstat(fd).st_mode
    if kind == "file" and not stat.S_ISREG(mode):
        raise UnsafePathError(f"{path} is not a regular file")
    if kind == "dir" and not stat.S_ISDIR(mode):
        raise UnsafePathError(f"{path} is not a folder")
    if kind == "any" and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UnsafePathError(f"{path} is neither a regular file nor a folder")


def _refusal(exc: OSError, path: Path) -> InvalidInputError:
    if exc.errno == errno.ELOOP:
        return UnsafePathError(
            f"{path} is reached through a symlink (symlinks are not followed: it could leave "
            "its folder)"
        )
    if exc.errno == errno.ENOTDIR:
        return UnsafePathError(f"{path}: a part of it is not a folder")
    if exc.errno == errno.ENOENT:
        return MissingFileError(f"{path}: file not found")
    if exc.errno in _TRANSIENT_ERRNOS:
        return TransientReadError(f"{path}: {exc.strerror}")
    return InvalidInputError(f"{path}: {exc.strerror}")

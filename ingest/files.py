"""Careful file reads: stay inside the root, regular files only, size-capped, strict UTF-8."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rag.errors import InvalidInputError


def confined(path: Path, root: Path | None) -> Path:
    """``path`` with symlinks resolved; rejected when it leaves ``root`` (already resolved)."""
    real = path.resolve()
    if root is not None and not real.is_relative_to(root):
        raise InvalidInputError(f"path leaves {root} (through '..', an absolute path or a symlink)")
    return real


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; anything else is rejected."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInputError("file not found (or a broken symlink)") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError("not a regular file")
    if info.st_size > max_bytes:
        raise InvalidInputError(
            f"file is {info.st_size} bytes, over the cap of {max_bytes} "
            "(raise MMRAG_INGEST__MAX_FILE_BYTES to accept it)"
        )
    with open(path, "rb", opener=_nonblocking) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInputError(f"file grew past the cap of {max_bytes} bytes while being read")
    return data


def decode_utf8(data: bytes, what: str = "text") -> str:
    """``data`` as UTF-8 (a leading BOM is dropped); other encodings are rejected."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{what} is not UTF-8 (byte {exc.start}); re-save it as UTF-8"
        ) from None


def check_utf8(text: str, what: str = "text") -> str:
    """``text`` unchanged, unless it carries undecodable bytes (surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{what} is not UTF-8; re-save it as UTF-8") from None
    return text


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))

"""Careful file reads: stay inside the root with no symlink on the way (:mod:`rag.safe_open`),
regular files only, size-capped, strict UTF-8."""

from __future__ import annotations

import os
from pathlib import Path

from rag.errors import InvalidInputError
from rag.safe_open import open_beneath, open_nofollow, read_fd


def confined(path: Path, root: Path | None) -> Path:
    """``path`` normalised (``..`` folded, symlinks left as they are); rejected when it leaves
    ``root``. Opening it (:func:`open_confined`) then refuses a symlink in any component."""
    normal = Path(os.path.normpath(path))
    if root is not None and not normal.is_relative_to(root):
        raise InvalidInputError(f"path leaves {root} (through '..', an absolute path or a symlink)")
    return normal


def open_confined(path: Path, root: Path | None, anchor: Path | None = None) -> int:
    """A descriptor of the regular file ``path`` under ``root``, every component below
    ``anchor`` (default: ``root``) opened without following a symlink. No ``root`` (staged
    uploads, which mmrag wrote itself): only the last component must not be a symlink."""
    if root is None:
        return open_nofollow(path)
    return open_beneath(anchor or root, confined(path, root))


def read_confined(
    path: Path, root: Path | None, max_bytes: int, anchor: Path | None = None
) -> bytes:
    """The bytes of :func:`open_confined`'s file, at most ``max_bytes``."""
    return read_fd(open_confined(path, root, anchor), max_bytes)


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

"""How uploads and page renders lie on disk: apart per (collection, tenant), under
``<files_dir>/{uploads,documents}/<collection>/<tenant>/``, each written whole or not at all.

Files are content-addressed inside a scope, so two items of a tenant may share one; two tenants
never do. Whether a file is still needed is then answered by the points of one collection (those
of its tenant are the only ones that can name it), and one tenant's delete never removes a file
another tenant's job or item needs.

Example::

    folder = scope_dir(uploads_dir(files_dir), "mmrag", "acme")   # …/uploads/mmrag/t-3f2a…
    scope_of(path, uploads_dir(files_dir))                        # ("mmrag", "t-3f2a…") or None
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

STORED_FOLDERS = ("uploads", "documents")
"""The folders under ``Settings.files_dir`` that mmrag writes: staged uploads, page renders."""
PART_SUFFIX = ".part"
PART_GRACE_S = 600.0
"""A ``.part`` file untouched this long is a leftover (a write in progress touches it)."""

UNTENANTED = "_"
"""The tenant folder of untenanted jobs (API keys off, or a ``*`` key)."""
_TENANT = re.compile(r"^(_|t-[0-9a-f]{32})$")
_COLLECTION = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def tenant_folder(tenant: str | None) -> str:
    """A tenant's folder name: a digest of its name (any text is a tenant), ``_`` for none."""
    if tenant is None:
        return UNTENANTED
    return "t-" + hashlib.sha256(tenant.encode()).hexdigest()[:32]


def scope_dir(root: Path, collection: str, tenant: str | None) -> Path:
    """The folder of ``collection`` and ``tenant`` under ``root`` (uploads or page renders)."""
    if not _COLLECTION.match(collection):
        raise ValueError(f"not a collection name: {collection!r}")
    return Path(root) / collection / tenant_folder(tenant)


def scope_of(path: str | Path, root: Path) -> tuple[str, str] | None:
    """``(collection, tenant folder)`` of a file in a scope folder under ``root`` (at any depth
    below it), or ``None`` for anything else (a file of the older, shared layout included)."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, base]) != base:
        return None
    parts = Path(os.path.relpath(real, base)).parts
    if len(parts) < 3 or not _COLLECTION.match(parts[0]) or not _TENANT.match(parts[1]):
        return None
    return parts[0], parts[1]


def write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` through a ``.part`` file renamed into place; on any failure the ``.part``
    file is deleted (one left by a killed process goes at the next start:
    :func:`sweep_partial_files`)."""
    handle = tempfile.NamedTemporaryFile(dir=path.parent, suffix=PART_SUFFIX, delete=False)  # noqa: SIM115
    part = Path(handle.name)
    try:
        with handle:
            handle.write(data)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def sweep_partial_files(files_dir: Path, older_than_s: float = PART_GRACE_S) -> int:
    """Delete the ``.part`` files under the upload and page-render folders that no write has
    touched for ``older_than_s`` (left by a killed process or a full disk; younger ones may be
    another replica's write in progress). Returns how many went."""
    removed = 0
    cutoff = time.time() - older_than_s
    for root in (Path(files_dir) / name for name in STORED_FOLDERS):
        for part in root.rglob(f"*{PART_SUFFIX}") if root.is_dir() else ():
            try:
                if part.is_file() and not part.is_symlink() and part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
            except OSError as exc:
                log.warning("could not delete the partial file %s: %s", part, exc)
    if removed:
        log.info("deleted %d partial file(s) left under %s", removed, files_dir)
    return removed

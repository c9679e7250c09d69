"""DOCX and PPTX are zip files: check sizes and compression before a library unpacks them."""

from __future__ import annotations

import io
import zipfile

from ingest.documents.model import ReadLimits
from rag.errors import InvalidInputError

MAX_ENTRIES = 10_000
_RATIO_FLOOR = 1024 * 1024
"""Parts under 1 MiB unpacked may compress as well as they like (XML often does 20-50x); the
whole archive, over 1 MiB unpacked, may not (a thousand such parts are a bomb too)."""


def check_zip(data: bytes, kind: str, limits: ReadLimits) -> None:
    """Raise :class:`InvalidInputError` for a corrupt zip or a zip bomb (caps on part size,
    total size and compression ratio), before anything is unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInputError(f"corrupt or truncated {kind} (not a valid zip): {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise InvalidInputError(f"{kind} has {len(infos)} parts, over the cap of {MAX_ENTRIES}")
    total = packed = 0
    for info in infos:
        _check_entry(info, kind, limits)
        total += info.file_size
        packed += info.compress_size
    if total > limits.max_zip_total_bytes:
        raise InvalidInputError(
            f"{kind} unpacks to {total} bytes, over the cap of {limits.max_zip_total_bytes} "
            "(MMRAG_INGEST__MAX_ZIP_TOTAL_BYTES)"
        )
    ratio = total / max(packed, 1)
    if total > _RATIO_FLOOR and ratio > limits.max_zip_ratio:  # many parts, each under the floor
        raise InvalidInputError(
            f"{kind} is compressed {ratio:.0f}x overall, over the cap of {limits.max_zip_ratio}x:"
            " a zip bomb? (MMRAG_INGEST__MAX_ZIP_RATIO)"
        )


def _check_entry(info: zipfile.ZipInfo, kind: str, limits: ReadLimits) -> None:
    if info.file_size > limits.max_zip_entry_bytes:
        raise InvalidInputError(
            f"{kind} part {info.filename} unpacks to {info.file_size} bytes, over the cap of "
            f"{limits.max_zip_entry_bytes} (MMRAG_INGEST__MAX_ZIP_ENTRY_BYTES)"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FLOOR and ratio > limits.max_zip_ratio:
        raise InvalidInputError(
            f"{kind} part {info.filename} is compressed {ratio:.0f}x, over the cap of "
            f"{limits.max_zip_ratio}x: a zip bomb? (MMRAG_INGEST__MAX_ZIP_RATIO)"
        )

"""Uploads from the API: check each image (or document) now, save it under
``<files_dir>/uploads``, queue the rest. A file whose name ends in a document extension (``.pdf``,
``.docx``, ``.pptx``, ``.html``, ``.md``) is a document: it expands into pages, figures and
passages when the job runs.

Example::

    staged = stage_uploads([Upload(image=data, text="a cat", filename="cat.jpg")], settings, "acme")
    job_id = queue.submit(JobSpec.for_uploads(staged.items, tenant="acme"))
    staged.rejected  # [ItemError(source, reason, index)] for the bad ones, answered at once

Files lie in the folder of their collection and tenant (:mod:`ingest.stored_files`), named by
content: two tenants uploading the same bytes get two files, so neither's delete touches the
other's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from ingest.documents.reader import is_document, limits_of
from ingest.documents.zipcheck import check_zip
from ingest.images import decode_image
from ingest.items import Source, SourceItem
from ingest.report import ItemError
from ingest.specs import UploadItem
from ingest.stored_files import scope_dir, write_whole
from rag.config import IngestSettings, Settings
from rag.errors import InvalidInputError, StorageFullError
from rag.store.space import is_disk_full

UPLOADS_DIR = "uploads"
UPLOAD_ROOT = "upload"
"""The payload ``source_root`` of uploaded items (never pruned)."""


@dataclass(frozen=True)
class Upload:
    """One uploaded item: an image (bytes), a text, or both."""

    image: bytes | None = None
    text: str | None = None
    filename: str = ""
    external_id: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class StagedUploads:
    """Items ready to queue, and the uploads rejected (``index``: position in the request)."""

    items: list[UploadItem] = field(default_factory=list)
    rejected: list[ItemError] = field(default_factory=list)


def uploads_dir(files_dir: Path) -> Path:
    """The uploads folder under ``Settings.files_dir`` (the shared folder, or the data folder)."""
    return Path(files_dir) / UPLOADS_DIR


def stage_uploads(
    uploads: Sequence[Upload],
    settings: Settings,
    tenant: str | None = None,
    collection: str | None = None,
) -> StagedUploads:
    """Validate every upload; save good ones as ``<files_dir>/uploads/<collection>/<tenant>/
    <sha256>.<ext>`` (``collection``: the configured one by default)."""
    collection = collection or settings.store.collection
    folder = scope_dir(uploads_dir(settings.files_dir), collection, tenant)
    folder.mkdir(parents=True, exist_ok=True)
    staged = StagedUploads()
    for index, upload in enumerate(uploads):
        try:
            staged.items.append(_stage(upload, folder, settings.ingest))
        except InvalidInputError as exc:
            name = _clean_name(upload.filename) or f"upload #{index}"
            staged.rejected.append(ItemError(name, str(exc), index))
    return staged


def upload_source(items: Sequence[UploadItem]) -> Source:
    """Staged items as a source (``source`` = file name, ``source_root`` = ``upload``)."""
    found = [_source_item(index, item) for index, item in enumerate(items)]
    return Source(root=UPLOAD_ROOT, items=found, prunable=False)


def _stage(upload: Upload, folder: Path, settings: IngestSettings) -> UploadItem:
    text = upload.text if upload.text and upload.text.strip() else None
    if upload.image is None and text is None:
        raise InvalidInputError("an upload needs an image, a text, or both")
    if upload.metadata is not None and not isinstance(upload.metadata, dict):
        raise InvalidInputError("metadata must be a JSON object")
    if upload.image is not None and is_document(_clean_name(upload.filename)):
        return _stage_document(upload, upload.image, folder, settings)
    image_path = None if upload.image is None else _save_image(upload.image, folder, settings)
    return UploadItem(
        image_path=str(image_path) if image_path else None,
        text=text,
        filename=_clean_name(upload.filename) or (image_path.name if image_path else "text"),
        external_id=upload.external_id or None,
        metadata=upload.metadata or {},
    )


def _stage_document(
    upload: Upload, data: bytes, folder: Path, settings: IngestSettings
) -> UploadItem:
    name = _clean_name(upload.filename)
    _check_size(data, settings, "document")
    _check_document(data, PurePath(name).suffix.lower(), settings)
    path = _save(data, folder, PurePath(name).suffix.lower().lstrip("."))
    return UploadItem(
        document_path=str(path),
        filename=name,
        external_id=upload.external_id or None,
        metadata=upload.metadata or {},
    )


def _check_document(data: bytes, suffix: str, settings: IngestSettings) -> None:
    """Refuse at once what is plainly no document of its kind (the job reads the rest)."""
    if not data:
        raise InvalidInputError("empty file (0 bytes)")
    if suffix == ".pdf" and b"%PDF-" not in data[:1024]:
        raise InvalidInputError("not a PDF (no %PDF- header)")
    if suffix in (".docx", ".pptx"):
        check_zip(data, suffix[1:].upper(), limits_of(settings))


def _check_size(data: bytes, settings: IngestSettings, what: str) -> None:
    if len(data) > settings.max_file_bytes:
        raise InvalidInputError(
            f"{what} is {len(data)} bytes, over the cap of {settings.max_file_bytes} "
            "(MMRAG_INGEST__MAX_FILE_BYTES)"
        )


def _save_image(data: bytes, folder: Path, settings: IngestSettings) -> Path:
    _check_size(data, settings, "image")
    decoded = decode_image(data, settings.max_image_pixels)
    return _save(data, folder, decoded.extension)


def _save(data: bytes, folder: Path, extension: str) -> Path:
    path = folder / f"{hashlib.sha256(data).hexdigest()}.{extension}"
    if not path.exists():
        _write_new(path, data)
    return path.resolve()


def _write_new(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all; a full disk is a StorageFullError (503)."""
    try:
        write_whole(path, data)
    except OSError as exc:
        if is_disk_full(exc):
            raise StorageFullError(
                f"the upload folder {path.parent} is full: free some space, then send again"
            ) from None
        raise


def _source_item(index: int, item: UploadItem) -> SourceItem:
    return SourceItem(
        source=item.filename,
        display=f"{item.filename} (#{index})",
        image_file=Path(item.image_path) if item.image_path else None,
        document_file=Path(item.document_path) if item.document_path else None,
        text=item.text,
        external_id=item.external_id,
        metadata=item.metadata,
    )


def _clean_name(filename: str) -> str:
    return PurePath(filename.replace("\\", "/")).name if filename else ""

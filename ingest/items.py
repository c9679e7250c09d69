"""The shapes an item takes on its way through the pipeline: found, read, decoded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.report import ItemError


@dataclass(frozen=True)
class SourceItem:
    """An item as a source finds it, before any file is read.

    ``root`` confines every file the item reads (``None``: no confinement, staged uploads);
    ``anchor`` (default ``root``) is the trusted folder its files are opened from, one component
    at a time without following a symlink (a configured ingest root for server paths).
    ``key_file`` is set for folder items: without an external id their source key is the path.
    """

    source: str
    display: str
    image_file: Path | None = None
    text: str | None = None
    text_file: Path | None = None
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None
    anchor: Path | None = None
    key_file: Path | None = None
    document_file: Path | None = None
    """A document (PDF, DOCX, PPTX, HTML, Markdown) that expands into pages, figures, passages."""


@dataclass(frozen=True)
class Source:
    """Items from one folder, manifest or upload batch; ``root`` is their payload ``source_root``.

    ``prunable``: ``--prune`` may delete this root's points that the run did not see.
    """

    root: str
    items: Iterable[SourceItem | ItemError | Ignored | Unreadable]
    prunable: bool = True


@dataclass(frozen=True)
class ReadItem:
    """An item whose files were read and hashed: its identity is known, nothing is decoded.

    Frozen: it passes between the pool's threads and the main thread; a later stage makes a new
    one (``dataclasses.replace``) instead of changing it."""

    item: SourceItem
    key: str
    point_id: str
    content_hash: str
    text: str | None
    chunks: list[str]
    external_id: str | None
    metadata: dict[str, Any]
    image_bytes: bytes | None = None
    image_path: Path | None = None
    picture_file: Path | None = None
    """A stored page render or figure crop to decode and embed (documents)."""
    picture: ImageInfo | None = None
    """What the payload records of ``image_path`` when the point has no image vector."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Payload fields of document points (kind, document, page, figure, bbox, file path)."""


@dataclass(frozen=True)
class ImageInfo:
    """What the payload records of a decoded image."""

    mime: str
    width: int
    height: int


@dataclass
class DecodedItem:
    """A read item ready to embed: model inputs ``(1, 3, H, W)`` when it has an image, or on the
    GPU path the JPEG's bytes (checked as far as its header) for the embedder to decode."""

    read: ReadItem
    pixels: np.ndarray | None = None
    image: ImageInfo | None = None
    jpeg: bytes | None = None
    notes: list[str] = field(default_factory=list)
    """What went wrong short of failing the item (an OCR time-out), for the report."""


@dataclass
class DocumentRead:
    """A document expanded into its items, with what its reader could not take (``notes``)."""

    item: SourceItem
    document_id: str
    items: list[ReadItem]
    notes: list[str] = field(default_factory=list)
    remote_images: int = 0
    failed_pages: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Ignored:
    """A file or folder that is not an item (hidden, another extension, a symlinked folder)."""

    path: str


@dataclass(frozen=True)
class Unreadable:
    """A folder a source could not list (``path`` relative to the root, ``""``: the root).

    It is reported as ``error``, and ``--prune`` keeps every point under it."""

    path: str
    error: ItemError

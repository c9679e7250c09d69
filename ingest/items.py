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

    ``root`` confines every file the item reads (``None``: no confinement, staged uploads).
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
    key_file: Path | None = None


@dataclass(frozen=True)
class Source:
    """Items from one folder, manifest or upload batch; ``root`` is their payload ``source_root``.

    ``prunable``: ``--prune`` may delete this root's points that the run did not see.
    """

    root: str
    items: Iterable[SourceItem | ItemError | Ignored | Unreadable]
    prunable: bool = True


@dataclass
class ReadItem:
    """An item whose files were read and hashed: its identity is known, nothing is decoded."""

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


@dataclass(frozen=True)
class ImageInfo:
    """What the payload records of a decoded image."""

    mime: str
    width: int
    height: int


@dataclass
class DecodedItem:
    """A read item ready to embed: model inputs ``(1, 3, H, W)`` when it has an image."""

    read: ReadItem
    pixels: np.ndarray | None = None
    image: ImageInfo | None = None


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

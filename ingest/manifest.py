"""A manifest (JSONL or CSV) as items: one per line, image paths relative to the manifest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ingest.items import Source, SourceItem
from ingest.records import Record, iter_records
from ingest.report import ItemError


def manifest_source(path: Path, anchor: Path | None = None) -> Source:
    """The manifest's items, streamed line by line; images must lie under its folder.

    ``anchor``: the trusted folder above it (a configured ingest root) from which the manifest
    and its files are opened without following a symlink; ``None``: the manifest's folder
    (resolved) is the anchor."""
    manifest = path.resolve() if anchor is None else Path(os.path.normpath(path))
    anchor = anchor or manifest.parent
    return Source(root=str(manifest), items=_manifest_items(manifest, anchor, path))


def _manifest_items(manifest: Path, anchor: Path, shown: Path) -> Iterator[SourceItem | ItemError]:
    root = manifest.parent
    for number, record in iter_records(manifest, root, anchor):
        line = f"{shown}:{number}"
        if not isinstance(record, Record):
            yield ItemError(line, str(record))
        elif record.document:
            yield _document(root, anchor, line, record)
        elif not (record.image or record.text):
            yield ItemError(line, "a manifest line needs an 'image', a 'text' or a 'document'")
        else:
            yield _item(root, anchor, manifest, line, number, record)


def _item(
    root: Path, anchor: Path, manifest: Path, line: str, number: int, record: Record
) -> SourceItem:
    image = PurePosixPath(record.image).as_posix().removeprefix("./") if record.image else None
    return SourceItem(
        source=image or f"{manifest.name}:{number}",
        display=line,
        image_file=root / image if image else None,
        text=record.text,
        external_id=record.external_id,
        metadata=record.metadata,
        root=root,
        anchor=anchor,
    )


def _document(root: Path, anchor: Path, line: str, record: Record) -> SourceItem:
    """A document line: its path (relative to the manifest) is its key unless it has an id."""
    document = PurePosixPath(str(record.document)).as_posix().removeprefix("./")
    return SourceItem(
        source=document,
        display=line,
        external_id=record.external_id,
        metadata=record.metadata,
        root=root,
        anchor=anchor,
        key_file=root / document,
        document_file=root / document,
    )

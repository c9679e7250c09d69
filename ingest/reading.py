"""Stage one of the pipeline: read an item's files, resolve its text, hash it, name its point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.files import confined, decode_utf8, read_confined
from ingest.items import ReadItem, SourceItem
from ingest.records import parse_record
from rag.config import IngestSettings
from rag.errors import InvalidInputError
from rag.identity import content_hash, point_id, source_key

Chunker = Callable[[str], list[str]]


class ItemReader:
    """Turns a :class:`SourceItem` into a :class:`ReadItem` (thread-safe; runs in the pool).

    Raises :class:`InvalidInputError` with the reason when the item is unusable.
    """

    def __init__(self, collection: str, settings: IngestSettings, chunker: Chunker) -> None:
        self.collection = collection
        self.settings = settings
        self.chunker = chunker

    def read(self, item: SourceItem) -> ReadItem:
        text, external_id, metadata = item.text, item.external_id, item.metadata
        if item.text_file is not None:
            text, external_id, metadata = self._read_text_file(item, item.text_file)
        image_path = image_bytes = None
        if item.image_file is not None:
            image_path = confined(item.image_file, item.root)
            image_bytes = read_confined(
                image_path, item.root, self.settings.max_file_bytes, item.anchor
            )
        text = text.strip() if text and text.strip() else None
        if image_bytes is None and text is None:
            raise InvalidInputError("the item has neither an image nor text")
        digest = content_hash(image_bytes, text)
        key = source_key(external_id, item.key_file, digest)
        return ReadItem(
            item=item,
            key=key,
            point_id=point_id(self.collection, key),
            content_hash=digest,
            text=text,
            chunks=self._chunks(text),
            external_id=external_id,
            metadata=metadata,
            image_bytes=image_bytes,
            image_path=image_path,
        )

    def _read_text_file(
        self, item: SourceItem, path: Path
    ) -> tuple[str, str | None, dict[str, Any]]:
        data = read_confined(path, item.root, self.settings.max_file_bytes, item.anchor)
        text = decode_utf8(data, f"{path.name}")
        if path.suffix.lower() != ".json":
            return text, None, {}
        try:
            record = parse_record(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path.name} is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidInputError(f"{path.name} nests too deeply to read") from None
        return record.text or "", record.external_id, record.metadata

    def _chunks(self, text: str | None) -> list[str]:
        if text is None:
            return []
        return self.chunker(text) if self.settings.long_text == "chunk" else [text]

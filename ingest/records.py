"""Item records from JSON objects, JSONL lines and CSV rows (manifests, captions, sidecars)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.files import check_utf8, open_confined
from rag.errors import InvalidInputError
from rag.metadata import check_metadata

RECORD_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True)
class Record:
    """One item's fields as a manifest line, captions entry or ``.json`` sidecar gives them."""

    image: str | None = None
    text: str | None = None
    document: str | None = None
    """A document file (PDF, DOCX, PPTX, HTML, Markdown) relative to the manifest."""
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


Numbered = tuple[int, Record | InvalidInputError]
"""A record or the reason its line is unusable, with its line number."""


def parse_record(data: object, metadata_is_json: bool = False) -> Record:
    """Validate ``data`` (a JSON object or CSV row): ``image``, ``text``, ``id``, ``metadata``."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"expected a JSON object, got {type(data).__name__}")
    metadata = data.get("metadata")
    if metadata_is_json and isinstance(metadata, str):
        metadata = _json_value(metadata, "metadata") if metadata.strip() else None
    if metadata is not None:
        metadata = check_metadata(metadata, "'metadata'")
    return Record(
        image=_optional_str(data, "image"),
        text=_optional_str(data, "text"),
        document=_optional_str(data, "document"),
        external_id=_external_id(data.get("id")),
        metadata=metadata or {},
    )


def iter_records(
    path: Path, root: Path | None = None, anchor: Path | None = None
) -> Iterator[Numbered]:
    """Records of a ``.jsonl`` or ``.csv`` file, streamed; a bad line yields its error. The file
    is opened as :func:`ingest.files.open_confined` opens it (no symlink below ``anchor``)."""
    with os.fdopen(open_confined(path, root, anchor), "rb") as handle:
        lines = _text_lines(handle)
        if path.suffix.lower() == ".csv":
            yield from _csv_records(lines)
        else:
            yield from _jsonl_records(lines)


def _jsonl_records(lines: Iterator[str]) -> Iterator[Numbered]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, parse_record(_json_value(check_utf8(line, "line"), "line"))
        except InvalidInputError as exc:
            yield number, exc


def _csv_records(lines: Iterator[str]) -> Iterator[Numbered]:
    reader = csv.DictReader(lines)
    columns = set(reader.fieldnames or ())
    if not columns & {"image", "text", "document"}:
        yield (
            1,
            InvalidInputError(
                "CSV needs a header row with an 'image', 'text' and/or 'document' column"
            ),
        )
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv.field_size_limit(), a stray NUL byte...
            yield reader.line_num, InvalidInputError(f"unreadable CSV line: {exc}")
            continue
        try:
            cells = {k: check_utf8(v, f"column {k!r}") for k, v in row.items() if k and v}
            yield reader.line_num, parse_record(cells, metadata_is_json=True)
        except InvalidInputError as exc:
            yield reader.line_num, exc


def _text_lines(handle: Any) -> Iterator[str]:
    for number, raw in enumerate(handle):
        line = raw.decode("utf-8", errors="surrogateescape")
        yield line.removeprefix("\ufeff") if number == 0 else line


def _json_value(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInputError(f"{what} nests too deeply to read") from None


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _external_id(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(f"'id' must be a string or an integer, got {type(value).__name__}")
    return str(value)

"""A labelled audit set: items with a class ``label``, a ``group`` attribute, and a picture
and/or a text, from a JSON-lines or CSV file.

JSONL, one object a line::

    {"image": "pictures/circle-dark-1.png", "text": "a red circle", "label": "circle",
     "group": "dark"}

CSV: a header row with the same column names. Picture paths are relative to the file's folder
and may not leave it (no ``..``, no symlinks); the group column may have another name
(``group_field``).

Example::

    items = load_labelled_set(Path("examples/bias/set.jsonl"))
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from rag.audit.groups import check_sizes
from rag.errors import InvalidInputError
from rag.safe_open import open_beneath, open_nofollow, read_fd

MAX_ITEMS = 5000
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
MAX_TEXT_CHARS = 10_000
MAX_FIELD_CHARS = 200


@dataclass(frozen=True)
class LabelledItem:
    """One item of the set: ``image`` is a path under the set's folder (or ``None``)."""

    id: str
    label: str
    group: str
    image: Path | None
    text: str | None


def load_labelled_set(path: Path, group_field: str = "group") -> list[LabelledItem]:
    """The items of a ``.jsonl`` or ``.csv`` file, each checked (see the module docstring)."""
    path = Path(path).absolute()
    text = read_fd(open_nofollow(path), MAX_FILE_BYTES).decode("utf-8", errors="strict")
    rows = _csv_rows(text) if path.suffix.lower() == ".csv" else _jsonl_rows(text, path)
    if not rows:
        raise InvalidInputError(f"{path}: no items")
    if len(rows) > MAX_ITEMS:
        raise InvalidInputError(f"{path}: {len(rows)} items, more than {MAX_ITEMS}")
    items = [_item(row, n, path.parent, group_field) for n, row in enumerate(rows, 1)]
    check_sizes([i.label for i in items], [i.group for i in items], str(path))
    return items


def read_picture(folder: Path, item: LabelledItem) -> Image.Image:
    """The item's picture, opened beneath ``folder`` without following a symlink."""
    assert item.image is not None
    data = read_fd(open_beneath(folder, folder / item.image), MAX_IMAGE_BYTES)
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise InvalidInputError(f"{item.image}: more than {MAX_IMAGE_PIXELS} pixels")
        return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(f"{item.image}: not a readable picture ({exc})") from None


def _jsonl_rows(text: str, path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InvalidInputError(f"{path}:{n}: each line must be a JSON object")
        rows.append(row)
    return rows


def _csv_rows(text: str) -> list[dict[str, Any]]:
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]


def _item(row: dict[str, Any], n: int, folder: Path, group_field: str) -> LabelledItem:
    where = f"item {n}"
    label = _field(row.get("label"), f"{where}: label")
    group = _field(row.get(group_field), f"{where}: {group_field}")
    image = _image_path(row.get("image"), folder, where)
    text = row.get("text") or None
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT_CHARS):
        raise InvalidInputError(f"{where}: text must be a string of at most {MAX_TEXT_CHARS}")
    if image is None and text is None:
        raise InvalidInputError(f"{where}: give an image, a text or both")
    return LabelledItem(str(row.get("id") or n), label, group, image, text)


def _field(value: Any, where: str) -> str:
    text = "" if value is None else str(value).strip()
    if not 0 < len(text) <= MAX_FIELD_CHARS:
        raise InvalidInputError(f"{where} is missing or longer than {MAX_FIELD_CHARS} characters")
    return text


def _image_path(value: Any, folder: Path, where: str) -> Path | None:
    if value in (None, ""):
        return None
    relative = Path(str(value))
    if relative.is_absolute() or ".." in relative.parts:
        raise InvalidInputError(f"{where}: image {value!r} must be a path inside {folder}")
    return relative

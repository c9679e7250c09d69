"""Bounds of an item's ``metadata``: how deep it nests and how large it is, checked before the
item is queued or stored (the store's payload decoder gives up past ~128 levels, and a job that
holds such an item cannot be read back).

Example::

    check_metadata({"year": 2024, "tags": ["a"]})       # the dict, unchanged
    parse_metadata('{"year": 2024}', "metadata[0]")     # {"year": 2024}
"""

from __future__ import annotations

import json
from typing import Any

from rag.errors import InvalidInputError

MAX_METADATA_DEPTH = 16
"""Most levels of objects and lists inside an item's metadata (the object itself is level 1)."""
MAX_METADATA_BYTES = 64 * 1024
"""Largest metadata of one item, as compact JSON."""


def check_metadata(value: Any, where: str = "metadata") -> dict[str, Any]:
    """``value`` when it is a JSON object within :data:`MAX_METADATA_DEPTH` and
    :data:`MAX_METADATA_BYTES`; ``InvalidInputError`` naming ``where`` and the limit otherwise."""
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where} must be a JSON object")
    _check_depth(value, where)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise InvalidInputError(
            f"{where} is {size} bytes of JSON, more than the limit of {MAX_METADATA_BYTES}: "
            "keep large data in the item's text or in your own store"
        )
    return value


def parse_metadata(text: str, where: str = "metadata") -> dict[str, Any]:
    """The metadata object of JSON ``text``, size-checked before it is parsed."""
    if len(text) > MAX_METADATA_BYTES:  # characters: each is at least one byte of UTF-8
        raise InvalidInputError(
            f"{where} is longer than the limit of {MAX_METADATA_BYTES} bytes of JSON"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where} is not JSON: {exc.msg}") from None
    except RecursionError:
        raise _too_deep(where) from None
    return check_metadata(value, where)


def _check_depth(value: Any, where: str) -> None:
    level = [value]
    for _ in range(MAX_METADATA_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return
    raise _too_deep(where)


def _too_deep(where: str) -> InvalidInputError:
    return InvalidInputError(
        f"{where} nests deeper than the limit of {MAX_METADATA_DEPTH} levels of objects and "
        "lists: flatten it"
    )

"""Where an HTML or Markdown picture comes from: a file inside the ingest root, a ``data:`` URI,
or a remote URL (never fetched, only counted). Anything else is refused with the reason."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from ingest.files import read_confined
from rag.errors import InvalidInputError

_DATA_URI = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(;[^;,]*)*),(?P<data>.*)$", re.DOTALL)
_REMOTE = ("http", "https", "ftp", "ftps")


@dataclass(frozen=True)
class Remote:
    """A picture on another machine: mmrag does not fetch it."""

    url: str


def picture_bytes(
    src: str, base_dir: Path | None, root: Path | None, max_bytes: int, anchor: Path | None = None
) -> bytes | Remote:
    """The bytes ``src`` names; raises :class:`InvalidInputError` saying why it is refused."""
    src = src.strip()
    if src.startswith("data:"):
        return _data_uri(src)
    parts = urlsplit(src)
    if parts.scheme.lower() in _REMOTE or src.startswith("//"):
        return Remote(src)
    if parts.scheme and len(parts.scheme) > 1:
        raise InvalidInputError(f"image source scheme {parts.scheme!r} is not allowed")
    path = unquote(parts.path)
    if not path:
        raise InvalidInputError("empty image source")
    if PurePosixPath(path).is_absolute() or re.match(r"^[A-Za-z]:[\\/]", path):
        raise InvalidInputError(f"absolute image path {path!r} refused (give it relative)")
    if base_dir is None or root is None:
        raise InvalidInputError("local image paths need a folder (uploads carry none)")
    return read_confined(base_dir / path, root, max_bytes, anchor)


def _data_uri(src: str) -> bytes:
    match = _DATA_URI.match(src)
    if match is None:
        raise InvalidInputError("malformed data: URI")
    payload = match.group("data")
    if ";base64" in match.group("params").lower():
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise InvalidInputError("data: URI is not valid base64") from None
    return unquote_to_bytes(payload)

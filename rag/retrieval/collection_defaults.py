"""A collection's own search defaults (fusion, weights, signals), kept beside its data.

An operator who measured a collection (``mmrag eval``) keeps the result here; a search that does
not name fusion, weights or signals takes them from here before the global settings
(``MMRAG_RETRIEVAL__*``), and a request that names them still wins. One small JSON file per
collection, ``<files_dir>/collections/<collection>.json``, in the folder that every replica and
worker shares, re-read when it changes (so a change through one replica reaches the others).

Example::

    defaults = CollectionDefaults(fusion="weighted", weights={"passage": 0.5, "lexical": 0.25})
    save_defaults(settings.files_dir, "mmrag", defaults)
    DefaultsFile(settings.files_dir, "mmrag").read()  # the same, until the file changes
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from rag.errors import InvalidInputError
from rag.retrieval.plan import check_weights, parse_fusion, parse_signals, parse_weights
from rag.retrieval.types import CollectionDefaults

log = logging.getLogger(__name__)

FOLDER = "collections"
MAX_FILE_BYTES = 64 * 1024
"""A defaults file is a few hundred bytes; anything larger is refused, not read."""
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


NO_DEFAULTS = CollectionDefaults()


def parse_defaults(
    fusion: str | None = None,
    weights: Mapping[str, float] | str | None = None,
    signals: Sequence[str] | str | None = None,
) -> CollectionDefaults:
    """Check each part as a search request's would be checked; errors say what to fix."""
    parsed_weights = None
    if weights is not None:
        every = parse_weights(weights, check=False)
        named = weights if isinstance(weights, Mapping) else _names(weights)
        parsed_weights = {name: every[name] for name in every if name in named}
        check_weights(parsed_weights)
    return CollectionDefaults(
        fusion=None if fusion is None else parse_fusion(fusion),
        weights=parsed_weights,
        signals=None if signals is None else parse_signals(_listed(signals)),
    )


def _listed(signals: Sequence[str] | str) -> list[str] | str:
    return signals if isinstance(signals, str) else list(signals)


def _names(text: str) -> set[str]:
    return {part.partition("=")[0].strip() for part in text.split(",") if part.strip()}


def defaults_path(files_dir: Path, collection: str) -> Path:
    """``<files_dir>/collections/<collection>.json``; a name outside the collection pattern is
    refused (it would name another path)."""
    if not _NAME.match(collection):
        raise InvalidInputError(
            f"collection name {collection!r}: use 1-64 letters, digits, '_' or '-'"
        )
    return Path(files_dir) / FOLDER / f"{collection}.json"


def load_defaults(files_dir: Path, collection: str) -> CollectionDefaults:
    """The stored defaults of ``collection`` (none stored: :data:`NO_DEFAULTS`)."""
    path = defaults_path(files_dir, collection)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return NO_DEFAULTS
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidInputError(f"{path} is over {MAX_FILE_BYTES} bytes: not a defaults file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path} is not JSON ({exc}): fix or delete it") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: expected a JSON object")
    return parse_defaults(data.get("fusion"), data.get("weights"), data.get("signals"))


def save_defaults(files_dir: Path, collection: str, defaults: CollectionDefaults) -> None:
    """Write (atomically: a reader sees the old file or the new one) or, when ``defaults`` is
    empty, remove ``collection``'s defaults."""
    path = defaults_path(files_dir, collection)
    if defaults.is_empty:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(defaults.as_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


class DefaultsFile:
    """One collection's defaults as a search reads them: read again only when the file's
    modification time or size changed (one ``stat`` a search)."""

    def __init__(self, files_dir: Path, collection: str) -> None:
        self.files_dir = Path(files_dir)
        self.collection = collection
        self.path = defaults_path(files_dir, collection)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._defaults = NO_DEFAULTS

    def read(self) -> CollectionDefaults:
        try:
            stat = self.path.stat()
            key: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            key = None
        with self._lock:
            if key != self._seen:
                self._defaults, self._seen = self._load(key), key
            return self._defaults

    def _load(self, key: tuple[int, int] | None) -> CollectionDefaults:
        """The file's defaults; a broken file (written by hand) is logged and ignored, so that
        searches go on with the global settings rather than fail for the caller."""
        if key is None:
            return NO_DEFAULTS
        try:
            return load_defaults(self.files_dir, self.collection)
        except InvalidInputError as exc:
            log.warning("collection defaults ignored: %s", exc)
            return NO_DEFAULTS
            return self._defaults

"""One connection to an ingest SQLite database (the job queue's, the sources'), opened as every
caller needs it: autocommit (transactions are explicit), rows by name, a 30 s busy wait."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from rag.errors import ConfigError


@contextmanager
def connected(path: Path, what: str) -> Iterator[sqlite3.Connection]:
    """A connection to the ``what`` database at ``path``, closed after the block; a file that
    cannot be opened is a :class:`ConfigError` that says what to set."""
    try:
        connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise ConfigError(
            f"cannot open the {what} database {path}: {exc}; "
            "point MMRAG_DATA_DIR at a writable folder"
        ) from None
    connection.row_factory = sqlite3.Row
    with closing(connection):
        yield connection

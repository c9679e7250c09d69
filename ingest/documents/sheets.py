"""Spreadsheets as documents whose sheets are tables: ``.xlsx`` (openpyxl, read-only, cached
values: formulas and macros are never run), ``.csv`` and ``.tsv`` (one sheet). Each sheet is a
page without a render holding one :class:`TablePart`; rows past ``max_table_rows`` are cut and
noted, never an error."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from typing import Any

from ingest.documents.model import PagePart, ParsedDocument, ReadLimits, TablePart
from ingest.documents.zipcheck import check_zip
from rag.errors import InvalidInputError

MAX_COLUMNS = 256
"""Columns kept per sheet (the rest are noted)."""
MAX_CELL_CHARS = 2000
"""Characters kept per cell."""
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_xlsx(data: bytes, name: str, limits: ReadLimits) -> ParsedDocument:
    """The sheets of an ``.xlsx`` (zip checks first); raises :class:`InvalidInputError` for
    encrypted, corrupt or empty workbooks."""
    if not data:
        raise InvalidInputError("empty file (0 bytes)")
    if data.startswith(_OLE_MAGIC):
        raise InvalidInputError(
            "the workbook is encrypted (password-protected) or an old .xls; save an unprotected "
            ".xlsx copy"
        )
    check_zip(data, "XLSX", limits)
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on broken files
        reason = f"{type(exc).__name__}: {exc}"
        raise InvalidInputError(f"corrupt or unreadable XLSX: {reason}") from None
    try:
        parsed = ParsedDocument(name, [], len(book.worksheets))
        if _has_macros(data):
            parsed.notes.append("the workbook holds macros: ignored, never run")
        pages = []
        for number, sheet in enumerate(book.worksheets, start=1):
            if number > limits.max_pages:
                parsed.notes.append(
                    f"sheets past {limits.max_pages} not ingested (MMRAG_INGEST__MAX_PAGES)"
                )
                break
            rows = ([_cell(v) for v in row] for row in sheet.iter_rows(values_only=True))
            pages.append(_sheet_page(number, str(sheet.title), rows, limits, parsed.notes))
    finally:
        book.close()
    parsed.pages = pages
    if not any(page.tables for page in pages):
        raise InvalidInputError("the workbook has no cells with values")
    return parsed


def read_delimited(data: bytes, name: str, limits: ReadLimits, delimiter: str) -> ParsedDocument:
    """A ``.csv`` (``delimiter`` ``,``) or ``.tsv`` (``\\t``) file as one sheet named ``name``."""
    if not data:
        raise InvalidInputError("empty file (0 bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"not UTF-8 text: {exc}") from None
    parsed = ParsedDocument(name, [], 1)
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        page = _sheet_page(1, name, rows, limits, parsed.notes)
    except csv.Error as exc:
        raise InvalidInputError(f"not valid CSV: {exc}") from None
    if not page.tables:
        raise InvalidInputError("the table has no cells with values")
    parsed.pages = [page]
    return parsed


def _sheet_page(
    number: int, title: str, rows: Iterable[list[str]], limits: ReadLimits, notes: list[str]
) -> PagePart:
    """The sheet's first non-empty row as its header, then up to ``max_table_rows`` rows."""
    numbered = ((i, row) for i, row in enumerate(rows, start=1) if any(c.strip() for c in row))
    header: list[str] | None = None
    body: list[tuple[int, list[str]]] = []
    for index, row in _capped(numbered, limits.max_table_rows + 1, title, notes):
        if len(row) > MAX_COLUMNS:
            notes.append(f"sheet {title}: columns past {MAX_COLUMNS} not ingested")
            row = row[:MAX_COLUMNS]
        if header is None:
            header = [c.strip()[:MAX_CELL_CHARS] for c in row]
        else:
            body.append((index, [c.strip()[:MAX_CELL_CHARS] for c in row]))
    tables = [] if header is None else [TablePart(title, header, body)]
    return PagePart(number, "", heading=title, tables=tables)


def _capped(
    rows: Iterator[tuple[int, list[str]]], cap: int, title: str, notes: list[str]
) -> Iterator[tuple[int, list[str]]]:
    """The header and ``cap - 1`` rows; one more is looked at only to note the cut."""
    for count, row in enumerate(rows, start=1):
        if count > cap:
            notes.append(
                f"sheet {title}: rows after row {row[0] - 1} not ingested, over the cap of "
                f"{cap - 1} rows (MMRAG_INGEST__MAX_TABLE_ROWS)"
            )
            return
        yield row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _has_macros(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(n.lower().endswith("vbaproject.bin") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False

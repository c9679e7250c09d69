"""Ruled tables on PDF pages with pdfplumber (pdfminer's layout, pure Python: no PDFium lock).

Only pages whose PDFium objects include ruling paths are handed to pdfplumber (a page of plain
text costs nothing here), and a page with more paths than :data:`MAX_PATHS` is skipped with a
note (its layout could take long to parse). A table needs two rows and two columns; its cells
are bounded like a sheet's (:mod:`ingest.documents.tables`).
"""

from __future__ import annotations

import io
from typing import Any

from ingest.documents.model import TablePart
from ingest.documents.tables import table_part
from rag.ocr.base import normalised

MAX_PATHS = 5000
"""Path objects on a page past which its tables are not looked for (noted)."""
MAX_TABLES_PER_PAGE = 20
"""Tables kept per page (the rest noted)."""
_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}


class PdfTables:
    """Finds the ruled tables of one PDF's pages; opens the document with pdfplumber only
    when a page first needs it. ``close()`` when done."""

    def __init__(self, data: bytes, max_rows: int) -> None:
        self.data = data
        self.max_rows = max_rows
        self._pdf: Any = None

    def find(self, index: int, paths: int, notes: list[str]) -> list[TablePart]:
        """The tables of page ``index`` (0-based) that has ``paths`` path objects; a failure is
        a note, never an error."""
        number = index + 1
        if paths < 4:  # a ruled table needs at least its frame
            return []
        if paths > MAX_PATHS:
            notes.append(
                f"page {number}: {paths} drawn lines, over {MAX_PATHS}: tables not looked for"
            )
            return []
        try:
            return self._find(index, notes)
        except Exception as exc:  # pdfminer raises many types on odd files
            notes.append(f"page {number}: tables could not be read: {type(exc).__name__}: {exc}")
            return []

    def _find(self, index: int, notes: list[str]) -> list[TablePart]:
        if self._pdf is None:
            import pdfplumber

            self._pdf = pdfplumber.open(io.BytesIO(self.data))
        page = self._pdf.pages[index]
        try:
            height = float(page.height)
            found = page.find_tables(_SETTINGS)
            tables: list[TablePart] = []
            for table in found:
                part = self._table(table, height, index + 1, len(tables) + 1, notes)
                if part is None:
                    continue
                if len(tables) == MAX_TABLES_PER_PAGE:
                    notes.append(
                        f"page {index + 1}: tables past {MAX_TABLES_PER_PAGE} not ingested"
                    )
                    break
                tables.append(part)
            return tables
        finally:
            page.close()

    def _table(
        self, table: Any, height: float, page: int, number: int, notes: list[str]
    ) -> TablePart | None:
        x0, top, x1, bottom = (float(v) for v in table.bbox)
        where = f"page {page}, table {number}"
        box = (x0, height - bottom, x1, height - top)
        size = (x1 - x0, bottom - top)
        rows = [_on_crop(row.bbox, x0, top, size) for row in table.rows]
        title = f"table {number}"
        return table_part(table.extract(), title, self.max_rows, notes, where, box, rows)

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None


def _on_crop(
    box: tuple[float, float, float, float], left: float, top: float, size: tuple[float, float]
) -> tuple[float, float, float, float]:
    """A row's box (pdfplumber: points, origin top left) as fractions of the table's crop."""
    return normalised((box[0] - left, box[1] - top, box[2] - left, box[3] - top), *size)

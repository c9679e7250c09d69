"""Tables found inside documents (PDF, DOCX, PPTX) as :class:`TablePart`: the first row with a
value is the header, cells are cut like a sheet's, rows past the cap are noted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ingest.documents.model import TablePart
from ingest.documents.sheets import MAX_CELL_CHARS, MAX_COLUMNS


def table_part(
    rows: Iterable[Iterable[Any]],
    title: str,
    max_rows: int,
    notes: list[str],
    where: str,
    bbox: tuple[float, float, float, float] | None = None,
    boxes: Sequence[tuple[float, float, float, float]] | None = None,
) -> TablePart | None:
    """A table of two rows and two columns at least (else ``None``: a frame, a layout grid),
    its rows past ``max_rows`` (and columns past the sheets' cap) left out with a note naming
    ``where`` (``page 3, table 1``). ``boxes``: each of ``rows``' box, kept for the rows kept."""
    kept: list[list[str]] = []
    kept_boxes: list[tuple[float, float, float, float]] = []
    for index, row in enumerate(rows):
        cells = [cell_text(c) for c in row]
        if not any(cells):
            continue
        if len(cells) > MAX_COLUMNS:
            notes.append(f"{where}: columns past {MAX_COLUMNS} not ingested")
            cells = cells[:MAX_COLUMNS]
        if len(kept) == max_rows + 1:
            notes.append(
                f"{where}: rows after row {max_rows + 1} not ingested, over the cap of "
                f"{max_rows} rows (MMRAG_INGEST__MAX_TABLE_ROWS)"
            )
            break
        kept.append(cells)
        if boxes is not None and index < len(boxes):
            kept_boxes.append(boxes[index])
    if len(kept) < 2 or max(len(row) for row in kept) < 2:
        return None
    body = list(enumerate(kept[1:], start=2))
    row_boxes = kept_boxes if len(kept_boxes) == len(kept) else None
    return TablePart(title, kept[0], body, sheet=False, bbox=bbox, row_boxes=row_boxes)


def cell_text(value: Any) -> str:
    """A cell's text on one line, cut at the sheets' cap."""
    text = "" if value is None else " ".join(str(value).split())
    return text[:MAX_CELL_CHARS]

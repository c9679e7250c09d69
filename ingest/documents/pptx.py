"""PowerPoint (.pptx) with python-pptx: each slide is a page (its text and notes; its tables
are ``table`` items); pictures are figures described by their alt text and the slide's title."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from ingest.documents.captions import figure_text
from ingest.documents.model import FigurePart, PagePart, ParsedDocument, ReadLimits, TablePart
from ingest.documents.pictures_in import try_figure
from ingest.documents.tables import table_part
from ingest.documents.zipcheck import check_zip
from ingest.pixels import FigureBudget
from rag.errors import InvalidInputError


def read_pptx(data: bytes, name: str, limits: ReadLimits) -> ParsedDocument:
    """The slides of a .pptx; raises :class:`InvalidInputError` for a corrupt file or zip bomb."""
    check_zip(data, "PPTX", limits)
    try:
        deck = Presentation(io.BytesIO(data))
        slides = list(deck.slides)
        title = (deck.core_properties.title or "").strip()
    except Exception as exc:
        raise InvalidInputError(f"corrupt PPTX: {type(exc).__name__}: {exc}") from None
    parsed = ParsedDocument(title, [], len(slides))
    pages: list[PagePart] = []
    parsed.pages = pages
    budget = FigureBudget(limits.max_decoded_pixels)
    for number, slide in enumerate(slides[: limits.max_pages], start=1):
        try:
            pages.append(_slide(number, slide, limits, budget, parsed))
        except Exception as exc:
            parsed.failed_pages.append(number)
            parsed.notes.append(f"slide {number} could not be read: {exc}")
        budget.end_page(number, parsed.notes)
    if len(slides) > limits.max_pages:
        parsed.notes.append(f"{len(slides)} slides, over the cap of {limits.max_pages}")
    if not parsed.title:
        parsed.title = next((p.heading for p in pages if p.heading), None) or name
    return parsed


def _slide(
    number: int, slide: Any, limits: ReadLimits, budget: FigureBudget, parsed: ParsedDocument
) -> PagePart:
    heading = _title(slide)
    texts: list[str] = []
    figures: list[FigurePart] = []
    tables: list[TablePart] = []
    for shape in _shapes(slide.shapes):
        if shape.shape_type == MSO_SHAPE_TYPE.PICTURE:
            if not budget.room():
                continue
            what = f"a picture on slide {number}"
            load = try_figure(shape.image.blob, limits, budget, parsed.notes, what)
            if load is not None:
                alt = shape._element.nvPicPr.cNvPr.get("descr") or shape.name or ""
                figures.append(FigurePart(load, figure_text(alt, parsed.title, heading)))
        elif getattr(shape, "has_table", False) and shape.has_table:
            name = f"table {len(tables) + 1}"
            rows = ([c.text for c in row.cells] for row in shape.table.rows)
            where = f"slide {number}, {name}"
            table = table_part(rows, name, limits.max_table_rows, parsed.notes, where)
            tables += [table] if table is not None else []
        elif getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
            texts.append(shape.text_frame.text.strip())
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = slide.notes_slide.notes_text_frame.text.strip()
        if notes:
            texts.append(f"Notes: {notes}")
    return PagePart(number, "\n".join(texts), None, figures, heading, tables=tables)


def _shapes(shapes: Any) -> Iterator[Any]:
    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _title(slide: Any) -> str | None:
    title = slide.shapes.title
    if title is not None and title.has_text_frame and title.text_frame.text.strip():
        return str(title.text_frame.text.strip())
    return None

"""Word (.docx) with python-docx: headings and paragraphs as text, tables as tables (their
own ``table`` items), inline pictures as figures with their caption paragraph. Pages split at
page breaks (explicit or as Word last rendered them); a document without breaks is one page."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from itertools import islice

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.documents.captions import CAPTION_LINE, figure_text
from ingest.documents.model import FigurePart, PagePart, ParsedDocument, ReadLimits, TablePart
from ingest.documents.pictures_in import try_figure
from ingest.documents.tables import table_part
from ingest.documents.zipcheck import check_zip
from ingest.pixels import FigureBudget
from rag.errors import InvalidInputError


@dataclass
class _Block:
    text: str
    pictures: list[bytes] = field(default_factory=list)
    table: list[list[str]] | None = None
    heading: bool = False
    caption: bool = False
    break_before: bool = False
    break_after: bool = False


def read_docx(data: bytes, name: str, limits: ReadLimits) -> ParsedDocument:
    """The pages of a .docx; raises :class:`InvalidInputError` for a corrupt file or zip bomb."""
    check_zip(data, "DOCX", limits)
    try:
        document = docx.Document(io.BytesIO(data))
        styles: dict[str | None, str] = {}
        blocks = [
            _block(item, document, limits.max_table_rows, styles)
            for item in document.iter_inner_content()
        ]
        title = (document.core_properties.title or "").strip()
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(f"corrupt DOCX: {type(exc).__name__}: {exc}") from None
    title = title or next((b.text for b in blocks if b.heading and b.text), "") or name
    pages = _paginate(blocks)
    parsed = ParsedDocument(title, [], len(pages))
    budget = FigureBudget(limits.max_decoded_pixels)
    parsed.pages = [
        _page(number, page_blocks, title, limits, budget, parsed.notes)
        for number, page_blocks in enumerate(pages[: limits.max_pages], start=1)
    ]
    if len(pages) > limits.max_pages:
        parsed.notes.append(f"{len(pages)} pages, over the cap of {limits.max_pages}")
    return parsed


def _block(
    item: Paragraph | Table,
    document: docx.document.Document,
    max_rows: int,
    styles: dict[str | None, str],
) -> _Block:
    if isinstance(item, Table):  # a table item of its own; one row past the cap, to note it
        rows = [[cell.text for cell in row.cells] for row in islice(item.rows, max_rows + 2)]
        return _Block("", table=rows)
    element = item._element
    style = _style_name(item, styles)
    text = item.text.strip()
    pictures = [
        document.part.related_parts[rid].blob
        for rid in element.xpath(".//a:blip/@r:embed")
        if rid in document.part.related_parts
    ]
    return _Block(
        text,
        pictures,
        heading=style.startswith(("Heading", "Title")),
        caption=style == "Caption" or bool(CAPTION_LINE.match(text)),
        break_before=bool(element.xpath(".//w:lastRenderedPageBreak"))
        or bool(item.paragraph_format.page_break_before),
        break_after=bool(element.xpath('.//w:br[@w:type="page"]')),
    )


def _style_name(paragraph: Paragraph, names: dict[str | None, str]) -> str:
    """The paragraph's style name, looked up once per style id of the document (python-docx
    scans every style of the document to find the default one, each time it is asked)."""
    style_id = paragraph._p.style
    if style_id not in names:
        style = paragraph.style
        names[style_id] = (style.name if style is not None else "") or ""
    return names[style_id]


def _paginate(blocks: list[_Block]) -> list[list[_Block]]:
    pages: list[list[_Block]] = [[]]
    for block in blocks:
        if block.break_before and pages[-1]:
            pages.append([])
        pages[-1].append(block)
        if block.break_after:
            pages.append([])
    return [page for page in pages if page] or [[]]


def _page(
    number: int,
    blocks: list[_Block],
    title: str,
    limits: ReadLimits,
    budget: FigureBudget,
    notes: list[str],
) -> PagePart:
    figures: list[FigurePart] = []
    tables: list[TablePart] = []
    heading: str | None = None
    for index, block in enumerate(blocks):
        heading = block.text if block.heading and block.text else heading
        if block.table is not None:
            name = f"table {len(tables) + 1}"
            where = f"page {number}, {name}"
            table = table_part(block.table, name, limits.max_table_rows, notes, where)
            tables += [table] if table is not None else []
        for data in block.pictures:
            if not budget.room():
                continue
            load = try_figure(data, limits, budget, notes, f"a picture on page {number}")
            if load is not None:
                caption = _caption(blocks, index)
                figures.append(FigurePart(load, figure_text(caption, title, heading)))
    budget.end_page(number, notes)
    text = "\n".join(block.text for block in blocks if block.text)
    first_heading = next((b.text for b in blocks if b.heading and b.text), None)
    return PagePart(number, text, None, figures, first_heading, tables=tables)


def _caption(blocks: list[_Block], index: int) -> str:
    """A caption paragraph right after (or before) the picture, else its own text, else the
    next paragraph with text."""
    near = [i for i in (index + 1, index - 1) if 0 <= i < len(blocks)]
    for i in near:
        if blocks[i].caption and blocks[i].text:
            return blocks[i].text
    if blocks[index].text:
        return blocks[index].text
    return next((b.text for b in blocks[index + 1 :] if b.text), "")

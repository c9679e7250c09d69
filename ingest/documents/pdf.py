"""PDF pages with pypdfium2: a render per page, the text layer, raster images as figures.

PDFium is not thread-safe: every call into it holds one process-wide lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from functools import partial

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from ingest.documents.captions import figure_text, heading_of, lines_of, pick_caption
from ingest.documents.model import FigurePart, PagePart, ParsedDocument, ReadLimits, TextLine
from ingest.documents.pdf_tables import MAX_PATHS, PdfTables
from ingest.documents.pdfstreams import check_pdf_streams
from ingest.pixels import FigureBudget
from rag.errors import InvalidInputError
from rag.ocr.base import normalised

MAX_SCALE = 2.0
"""Renders go up to 144 dpi; the pixel budget makes big pages smaller."""
CAPTION_BAND = 48.0
"""Points above and below a picture searched for its caption."""
MAX_LINES = 4000
"""Text runs with boxes kept per page (for highlights)."""

_PDFIUM = threading.Lock()
PDFIUM_LOCK = _PDFIUM
"""The process-wide PDFium lock, for other readers that render PDF pages."""


def read_pdf(data: bytes, name: str, limits: ReadLimits) -> ParsedDocument:
    """The PDF ``data``, its pages (up to ``limits.max_pages``) rendered one at a time as they
    are iterated (one render in memory, however long the document); raises
    :class:`InvalidInputError` for encrypted, corrupt or empty files, and for streams that
    inflate past :data:`~ingest.documents.pdfstreams.MAX_PDF_STREAM_BYTES`."""
    check_pdf_streams(data)  # before PDFium inflates any of them
    with _PDFIUM:
        pdf = _open(data)
        try:
            total = len(pdf)
            if total == 0:
                raise InvalidInputError("the PDF has no pages")
            title = _title(pdf) or _first_line(pdf) or name
        except BaseException:
            pdf.close()
            raise
    parsed = ParsedDocument(title, [], total)
    if total > limits.max_pages:
        parsed.notes.append(
            f"{total} pages, over the cap of {limits.max_pages}: pages {limits.max_pages + 1}-"
            f"{total} not ingested (MMRAG_INGEST__MAX_PAGES)"
        )
    parsed.pages = _pages(pdf, data, parsed, limits)
    return parsed


def _pages(
    pdf: pdfium.PdfDocument, data: bytes, parsed: ParsedDocument, limits: ReadLimits
) -> Iterator[PagePart]:
    """Each page under the PDFium lock, released while the caller stores it (and while its
    ruled tables are looked for); a page that fails is noted and skipped. Closes the document
    at the end (or when the caller stops)."""
    budget = FigureBudget(limits.max_decoded_pixels)
    tables = PdfTables(data, limits.max_table_rows)
    try:
        for index in range(min(parsed.total_pages, limits.max_pages)):
            try:
                with _PDFIUM:
                    page, paths, scale, height = _page(pdf, index, parsed.title, limits, budget)
            except Exception as exc:  # one broken page fails alone
                parsed.failed_pages.append(index + 1)
                parsed.notes.append(f"page {index + 1} could not be read: {exc}")
                continue
            finally:
                budget.end_page(index + 1, parsed.notes)
            page.tables = tables.find(index, paths, parsed.notes)  # outside the PDFium lock
            for table in page.tables:
                if table.bbox is not None and page.render is not None:
                    table.load = partial(page.render.crop, _crop_box(table.bbox, scale, height))
            yield page
    finally:
        tables.close()
        with _PDFIUM:
            pdf.close()


def _open(data: bytes) -> pdfium.PdfDocument:
    if not data:
        raise InvalidInputError("empty file (0 bytes)")
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        # PDFium's last error can be stale (it loads page-less files without setting one):
        # only an /Encrypt dictionary makes a password error believable.
        if "password" in str(exc).lower() and b"/Encrypt" in data:
            raise InvalidInputError(
                "the PDF is encrypted (password-protected); save an unprotected copy"
            ) from None
        raise InvalidInputError(
            f"corrupt or truncated PDF, or one without pages (PDFium could not load it: {exc})"
        ) from None


def _title(pdf: pdfium.PdfDocument) -> str:
    try:
        return str(pdf.get_metadata_dict().get("Title") or "").strip()
    except Exception:
        return ""


def _first_line(pdf: pdfium.PdfDocument) -> str:
    """The first line of text on page 1 (the title of a PDF without one in its metadata)."""
    try:
        page = pdf[0]
        textpage = page.get_textpage()
        try:
            lines = lines_of(textpage.get_text_range())
        finally:
            textpage.close()
            page.close()
    except Exception:
        return ""
    return lines[0][:120] if lines else ""


def _page(
    pdf: pdfium.PdfDocument, index: int, title: str, limits: ReadLimits, budget: FigureBudget
) -> tuple[PagePart, int, float, float]:
    """The page, how many path objects it draws (ruled tables need some), its render scale
    and its height in points."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        render, scale = render_page(page, limits.render_pixels)
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
            coverage = _text_coverage(textpage, width * height)
            lines = _text_lines(textpage, width, height)
            figures = list(_figures(page, textpage, render, scale, height, limits, budget))
        finally:
            textpage.close()
        paths = _count_paths(page)
    finally:
        page.close()
    heading = heading_of(text)
    for figure in figures:
        figure.caption = figure_text(figure.caption, title, heading)
    part = PagePart(index + 1, _clean(text), render, figures, heading, coverage, lines=lines)
    return part, paths, scale, height


def render_page(page: pdfium.PdfPage, pixels: int) -> tuple[Image.Image, float]:
    """The page as RGB pixels within ``pixels`` (hold :data:`PDFIUM_LOCK`), and its scale."""
    width, height = page.get_size()
    scale = render_scale(width, height, pixels)
    bitmap = page.render(scale=scale)
    try:
        return bitmap.to_pil().convert("RGB"), scale  # a copy: the bitmap is freed under the lock
    finally:
        bitmap.close()


def page_lines(page: pdfium.PdfPage) -> list[TextLine]:
    """The page's text runs with their boxes (hold :data:`PDFIUM_LOCK`), for highlights."""
    width, height = page.get_size()
    textpage = page.get_textpage()
    try:
        return _text_lines(textpage, width, height)
    finally:
        textpage.close()


def _text_lines(textpage: pdfium.PdfTextPage, width: float, height: float) -> list[TextLine]:
    """The text layer's runs (PDFium's text rectangles: a line, or a cell of a table), each
    with its box as fractions of the page; at most :data:`MAX_LINES`."""
    lines = []
    for index in range(min(textpage.count_rects(), MAX_LINES)):
        left, bottom, right, top = textpage.get_rect(index)
        text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
        if text:
            box = normalised((left, height - top, right, height - bottom), width, height)
            lines.append(TextLine(text, box))
    return lines


def _count_paths(page: pdfium.PdfPage) -> int:
    """Path objects on the page, counted up to one past the table finder's cap."""
    count = 0
    for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_PATH,), max_depth=4):
        count += 1
        if count > MAX_PATHS:
            break
    return count


def _crop_box(
    bbox: tuple[float, float, float, float], scale: float, height: float
) -> tuple[int, int, int, int]:
    """A box in PDF points (origin bottom left) as a pixel box of the render."""
    left, bottom, right, top = bbox
    return (
        max(0, int(left * scale)),
        max(0, int((height - top) * scale)),
        math.ceil(right * scale),
        math.ceil((height - bottom) * scale),
    )


def _text_coverage(textpage: pdfium.PdfTextPage, area: float) -> float:
    """Share of the page (``area`` in points) that its text layer's character boxes cover."""
    covered = 0.0
    for index in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(index)
        covered += max(0.0, right - left) * max(0.0, top - bottom)
    return min(1.0, covered / max(area, 1.0))


def render_scale(width: float, height: float, budget: int) -> float:
    """Scale from points to pixels: at most :data:`MAX_SCALE`, within ``budget`` pixels."""
    area = max(width * height, 1.0)
    scale = max(min(MAX_SCALE, math.sqrt(budget / area)), 1e-3)
    while scale > 1e-3 and math.ceil(width * scale) * math.ceil(height * scale) > budget:
        scale *= 0.995  # pixel sides round up
    return scale


def _figures(
    page: pdfium.PdfPage,
    textpage: pdfium.PdfTextPage,
    render: Image.Image,
    scale: float,
    height: float,
    limits: ReadLimits,
    budget: FigureBudget,
) -> Iterator[FigurePart]:
    """A figure per image placement of at least ``min_figure_pixels`` that fits ``budget``,
    counted by its crop box; the crop itself is made when the figure is loaded."""
    objects = page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=4)
    boxes = sorted({_rounded(obj.get_bounds()) for obj in objects}, key=lambda b: (-b[3], b[0]))
    for left, bottom, right, top in boxes:
        crop_box = (
            max(0, int(left * scale)),
            max(0, int((height - top) * scale)),
            min(render.width, math.ceil(right * scale)),
            min(render.height, math.ceil((height - bottom) * scale)),
        )
        w, h = crop_box[2] - crop_box[0], crop_box[3] - crop_box[1]
        if w <= 0 or h <= 0 or w * h < limits.min_figure_pixels:
            continue
        if not (budget.room() and budget.take(w * h)):
            continue
        below = lines_of(textpage.get_text_bounded(0, bottom - CAPTION_BAND, 1e5, bottom))
        above = lines_of(textpage.get_text_bounded(0, top, 1e5, top + CAPTION_BAND))
        yield FigurePart(
            partial(render.crop, crop_box), pick_caption(below, above), (left, bottom, right, top)
        )


def _rounded(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    return (round(box[0], 1), round(box[1], 1), round(box[2], 1), round(box[3], 1))


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()

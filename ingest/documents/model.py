"""What a document reader returns: pages with text, an optional render, and figures."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from PIL import Image


@dataclass
class FigurePart:
    """A picture on a page: how to get its pixels, its text (caption, then section heading and
    document title), where it sits (PDF points).

    ``load`` decodes (or crops) the picture only when called: readers count a figure's pixels
    against the document's budget from its header first, and the caller keeps one decoded
    figure at a time."""

    load: Callable[[], Image.Image]
    caption: str
    bbox: tuple[float, float, float, float] | None = None

    @property
    def image(self) -> Image.Image:
        """The picture, decoded (or cropped) now; raises :class:`InvalidInputError` when its
        bytes turn out broken past the header."""
        return self.load()


@dataclass
class TablePart:
    """A table: its title (a sheet's name, or ``table N`` for a table on a page), header
    cells, and rows as (row number in the sheet or table, 1-based; cells).

    ``sheet`` says whether ``title`` names a sheet; ``bbox`` is where a PDF table sits (PDF
    points, like a figure's), ``load`` crops it from the page render and ``row_boxes`` place
    its rows on that crop."""

    title: str
    header: list[str]
    rows: list[tuple[int, list[str]]]
    sheet: bool = True
    bbox: tuple[float, float, float, float] | None = None
    load: Callable[[], Image.Image] | None = None
    row_boxes: list[tuple[float, float, float, float]] | None = None
    """Each row's box (the header's first) as fractions of the crop ``load`` makes."""


@dataclass(frozen=True)
class TextLine:
    """A run of text on a page and its box ``(x0, y0, x1, y1)`` as fractions of the page
    (origin top left, like OCR line boxes)."""

    text: str
    box: tuple[float, float, float, float]


@dataclass
class PagePart:
    """One page (PDF page, slide, or a DOCX/HTML/Markdown span between page breaks)."""

    number: int
    text: str
    render: Image.Image | None = None
    figures: list[FigurePart] = field(default_factory=list)
    heading: str | None = None
    text_coverage: float | None = None
    """Share of the page its text layer's characters cover (PDF); ``None``: not known."""
    tables: list[TablePart] = field(default_factory=list)
    """Tables of the page (a spreadsheet's sheet is a page with one table)."""
    lines: list[TextLine] = field(default_factory=list)
    """The text layer's lines with their boxes (PDF), for highlights."""


@dataclass
class ParsedDocument:
    """A document as its reader understood it; ``notes`` are the things it could not take
    (pages over the cap, remote or escaping images, cut text), each said in a sentence.

    ``pages`` may be a generator (PDF: one render at a time): iterate it once, and read
    ``notes`` and ``failed_pages`` after it is exhausted."""

    title: str
    pages: Iterable[PagePart]
    total_pages: int
    notes: list[str] = field(default_factory=list)
    remote_images: int = 0
    failed_pages: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ReadLimits:
    """The caps a reader applies (from ``IngestSettings``)."""

    max_pages: int = 500
    render_pixels: int = 1_500_000
    min_figure_pixels: int = 4096
    max_image_pixels: int = 40_000_000
    max_decoded_pixels: int = 200_000_000
    max_text_chars: int = 2_000_000
    max_zip_entry_bytes: int = 100 * 1024 * 1024
    max_zip_total_bytes: int = 300 * 1024 * 1024
    max_zip_ratio: int = 100
    max_table_rows: int = 10_000
    office_pages: bool = True

"""A document file as items: a ``page`` per rendered page, a ``figure`` per picture, a
``passage`` per span of page text. Runs in the ingest pool (stage one of the pipeline)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from ingest.documents.html import Place, read_html, read_markdown
from ingest.documents.model import FigurePart, PagePart, ParsedDocument, ReadLimits, TablePart
from ingest.documents.pictures import PictureStore, StoredPicture
from ingest.files import confined, read_confined
from ingest.items import DocumentRead, ImageInfo, ReadItem, SourceItem
from ingest.ocr import PictureText, ocr_payload
from rag import payload as keys
from rag.config import IngestSettings
from rag.errors import InvalidInputError
from rag.highlights import line_spans
from rag.identity import (
    content_hash,
    document_id,
    figure_key,
    page_key,
    passage_key,
    point_id,
    source_key,
    table_key,
)

Splitter = Callable[[str], list[str]]
DOCUMENT_SUFFIXES: frozenset[str] = frozenset(
    {".pdf", ".docx", ".pptx", ".html", ".htm", ".md", ".markdown", ".xlsx"}
)
"""File extensions (lower case) read as documents (a folder's files too)."""
TABLE_SUFFIXES: frozenset[str] = frozenset({".csv", ".tsv"})
"""Tables read as documents when named so (a manifest's ``document``, an upload); in a folder
a ``.csv`` stays what it was (captions, a manifest)."""
ROWS_PER_TABLE_ITEM = 20
"""Rows of a sheet per ``table`` item (its Markdown is what the LLM sees)."""
_PNG = "image/png"


def is_document(path: Path | str) -> bool:
    """Whether a named file (an upload, a manifest's ``document``) is read as a document."""
    return Path(path).suffix.lower() in DOCUMENT_SUFFIXES | TABLE_SUFFIXES


def limits_of(settings: IngestSettings) -> ReadLimits:
    return ReadLimits(
        max_pages=settings.max_pages,
        render_pixels=settings.render_pixels,
        min_figure_pixels=settings.min_figure_pixels,
        max_image_pixels=settings.max_image_pixels,
        max_decoded_pixels=settings.max_decoded_pixels,
        max_text_chars=settings.max_text_chars,
        max_zip_entry_bytes=settings.max_zip_entry_bytes,
        max_zip_total_bytes=settings.max_zip_total_bytes,
        max_zip_ratio=settings.max_zip_ratio,
        max_table_rows=settings.max_table_rows,
        office_pages=settings.office_pages,
    )


def parse_document(
    data: bytes, path: Path, limits: ReadLimits, place: Place, name: str | None = None
) -> ParsedDocument:
    """Parse a document by its extension (see :data:`DOCUMENT_SUFFIXES`); ``name`` is the
    title of last resort (default: the file's stem)."""
    suffix, name = path.suffix.lower(), name or path.stem
    if suffix == ".pdf":
        from ingest.documents.pdf import read_pdf

        return read_pdf(data, name, limits)
    if suffix == ".docx":
        from ingest.documents.docx import read_docx
        from ingest.documents.office_pages import with_pages

        return with_pages(read_docx(data, name, limits), data, suffix, limits)
    if suffix == ".pptx":
        from ingest.documents.office_pages import with_pages
        from ingest.documents.pptx import read_pptx

        return with_pages(read_pptx(data, name, limits), data, suffix, limits)
    if suffix in (".html", ".htm"):
        return read_html(data, name, limits, place)
    if suffix in (".md", ".markdown"):
        return read_markdown(data, name, limits, place)
    if suffix == ".xlsx":
        from ingest.documents.sheets import read_xlsx

        return read_xlsx(data, name, limits)
    if suffix in TABLE_SUFFIXES:
        from ingest.documents.sheets import read_delimited

        return read_delimited(data, name, limits, "\t" if suffix == ".tsv" else ",")
    raise InvalidInputError(f"not a document type mmrag reads: {suffix or path.name}")


class DocumentReader:
    """Turns a document :class:`SourceItem` into a :class:`DocumentRead` (thread-safe).

    ``split`` cuts a page's text into passages (bounded by the passage model's tokens);
    ``ocr`` reads the pages and figures that need it (:mod:`ingest.ocr`).
    """

    def __init__(
        self,
        collection: str,
        settings: IngestSettings,
        pictures: PictureStore,
        split: Splitter,
        ocr: PictureText | None = None,
    ) -> None:
        self.ocr = ocr or PictureText()
        self.collection = collection
        self.settings = settings
        self.pictures = pictures
        self.split = split
        self.limits = limits_of(settings)

    def read(self, item: SourceItem) -> DocumentRead:
        assert item.document_file is not None
        path = confined(item.document_file, item.root)
        data = read_confined(path, item.root, self.settings.max_file_bytes, item.anchor)
        place = Place(
            path.parent if item.root else None, item.root, self.settings.max_file_bytes, item.anchor
        )
        parsed = parse_document(data, path, self.limits, place, Path(item.source).stem)
        key = source_key(item.external_id, item.key_file, hashlib.sha256(data).hexdigest())
        doc_id = document_id(self.collection, key)
        common = {
            keys.DOCUMENT: {
                "id": doc_id,
                "title": parsed.title,
                "source": item.source,
                "pages": parsed.total_pages,
            },
            keys.FILE_PATH: str(path),
        }
        items: list[ReadItem] = []
        budget = _TextBudget(self.limits.max_text_chars)
        for page in parsed.pages:  # PDFs render page by page: one render in memory at a time
            budget.cut(page, parsed.notes)
            items += self._page_items(item, key, page, common, parsed.notes)
        if not items:
            raise InvalidInputError("the document has no text and no pictures to ingest")
        return DocumentRead(
            item, doc_id, items, parsed.notes, parsed.remote_images, parsed.failed_pages
        )

    def _page_items(
        self,
        item: SourceItem,
        key: str,
        page: PagePart,
        common: dict[str, Any],
        notes: list[str],
    ) -> list[ReadItem]:
        render = self.pictures.save(page.render) if page.render is not None else None
        on_page = {**common, keys.PAGE: page.number}
        whole = page.render is not None and self.ocr.reads_page(page)
        read = None
        if whole and page.render is not None and render is not None:
            read = self.ocr.read(page.render, f"page {page.number}", notes, render.sha256)
        page_ocr = ocr_payload(read, self.ocr.model_id) if read and read.lines else {}
        items = []
        layer = [(line.text, line.box) for line in page.lines]
        if render is not None:
            page_extra = {**on_page, **page_ocr}
            if layer and (spans := line_spans(page.text, layer)):
                page_extra[keys.LINES] = spans
            items.append(self._page(item, key, page, render, page_extra))
        for index, figure in enumerate(page.figures):
            extra = {**on_page, keys.KIND: "figure", keys.FIGURE: index}
            if figure.bbox is not None:
                extra[keys.BBOX] = [round(v, 2) for v in figure.bbox]
            figure_item = self._figure(item, key, page, index, figure, extra, not whole, notes)
            if figure_item is not None:
                items.append(figure_item)
        texts = [(passage, {}, layer) for passage in self.split(page.text)]
        if read is not None and read.lines:
            read_lines = [(line.text, line.box) for line in read.lines]
            texts += [
                (passage, ocr_payload(read, self.ocr.model_id, passage), read_lines)
                for passage in self.split(read.text)
            ]
        for index, (passage, from_ocr, lines) in enumerate(texts):
            extra = {**on_page, keys.KIND: "passage", **from_ocr}
            if lines and (spans := line_spans(passage, lines)):
                extra[keys.LINES] = spans
            items.append(
                self._item(item, passage_key(key, page.number, index), passage, render, extra)
            )
        items += self._table_items(item, key, page, on_page, notes)
        return items

    def _table_items(
        self, item: SourceItem, key: str, page: PagePart, on_page: dict[str, Any], notes: list[str]
    ) -> list[ReadItem]:
        """A ``table`` item per run of rows: its text the Markdown of the header and the rows
        (what the LLM sees), its chunks one ``header: value`` line per row (the text signals).
        A PDF table keeps its box and the crop of the page render as its picture."""
        items: list[ReadItem] = []
        runs = [
            (table, start, table.rows[start : start + ROWS_PER_TABLE_ITEM])
            for table in page.tables
            for start in range(0, max(len(table.rows), 1), ROWS_PER_TABLE_ITEM)
        ]
        crops: dict[int, StoredPicture | None] = {}
        for index, (table, start, rows) in enumerate(runs):
            header = [h or f"column {i + 1}" for i, h in enumerate(table.header)]
            numbers = [n for n, _ in rows]
            extra = {
                **on_page,
                keys.KIND: "table",
                (keys.SHEET if table.sheet else keys.TABLE): table.title,
                keys.ROWS: [min(numbers), max(numbers)] if numbers else None,
            }
            if table.bbox is not None:
                extra[keys.BBOX] = [round(v, 2) for v in table.bbox]
            if id(table) not in crops:
                crops[id(table)] = self._crop(table, page.number, notes)
            lines = [_row_line(header, cells) for _, cells in rows] or [" | ".join(header)]
            markdown = _markdown(header, rows)
            picture = crops[id(table)]
            if picture is not None and table.row_boxes:
                boxes = [table.row_boxes[0], *table.row_boxes[1 + start : 1 + start + len(rows)]]
                extra[keys.LINES] = _row_spans(markdown, boxes)
            read = self._item(item, table_key(key, page.number, index), markdown, picture, extra)
            items.append(replace(read, chunks=self.split("\n".join(lines))))
        return items

    def _crop(self, table: TablePart, page: int, notes: list[str]) -> StoredPicture | None:
        """The table's crop of its page render, stored (``None`` without a render)."""
        if table.load is None:
            return None
        try:
            return self.pictures.save(table.load())
        except InvalidInputError as exc:
            notes.append(f"the picture of {table.title} on page {page} skipped: {exc}")
            return None

    def _figure(
        self,
        item: SourceItem,
        key: str,
        page: PagePart,
        index: int,
        figure: FigurePart,
        extra: dict[str, Any],
        read_text: bool,
        notes: list[str],
    ) -> ReadItem | None:
        """A figure's item; with ``read_text`` (its page was not read whole), the text OCR
        finds in it joins its caption as a second chunk."""
        saved = self._save_figure(figure, page.number, notes)
        if saved is None:
            return None
        crop, image = saved
        read = None
        if read_text and self.ocr.reads_pictures:
            read = self.ocr.read(image, f"a picture on page {page.number}", notes, crop.sha256)
        del image
        text_key = figure_key(key, page.number, index)
        figure_item = self._item(item, text_key, figure.caption, crop, extra, True)
        if read is None or not read.lines:
            return figure_item
        chunks = [*figure_item.chunks, *self.split(read.text)]
        return replace(
            figure_item, chunks=chunks, extra={**extra, **ocr_payload(read, self.ocr.model_id)}
        )

    def _save_figure(
        self, figure: FigurePart, page: int, notes: list[str]
    ) -> tuple[StoredPicture, Image.Image] | None:
        """Decode (or crop) one figure and store it; the caller drops the pixels once read."""
        try:
            image = figure.image
            return self.pictures.save(image), image
        except InvalidInputError as exc:
            notes.append(f"a picture on page {page} skipped: {exc}")
            return None

    def _page(
        self,
        item: SourceItem,
        key: str,
        page: PagePart,
        render: StoredPicture,
        on_page: dict[str, Any],
    ) -> ReadItem:
        read = self._item(
            item, page_key(key, page.number), None, render, {**on_page, keys.KIND: "page"}, True
        )
        digest = content_hash(bytes.fromhex(render.sha256), page.text)
        return replace(read, text=page.text or None, content_hash=digest)

    def _item(
        self,
        item: SourceItem,
        key: str,
        text: str | None,
        picture: StoredPicture | None,
        extra: dict[str, Any],
        embed_picture: bool = False,
    ) -> ReadItem:
        text = text.strip() if text and text.strip() else None
        image_hash = bytes.fromhex(picture.sha256) if picture and embed_picture else None
        return ReadItem(
            item=item,
            key=key,
            point_id=point_id(self.collection, key),
            content_hash=content_hash(image_hash, text),
            text=text,
            chunks=[text] if text else [],
            external_id=item.external_id,
            metadata=item.metadata,
            image_path=picture.path if picture else None,
            picture_file=picture.path if picture and embed_picture else None,
            picture=ImageInfo(_PNG, picture.width, picture.height) if picture else None,
            extra=extra,
        )


class _TextBudget:
    """Cuts a document's text after ``max_chars`` characters, all pages together."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.left = max_chars
        self.noted = False

    def cut(self, page: PagePart, notes: list[str]) -> None:
        if len(page.text) > self.left:
            if not self.noted:
                self.noted = True
                notes.append(
                    f"text cut at {self.max_chars} characters, on page {page.number} "
                    "(MMRAG_INGEST__MAX_TEXT_CHARS)"
                )
            page.text = page.text[: self.left]
        self.left -= len(page.text)


def _markdown(header: list[str], rows: list[tuple[int, list[str]]]) -> str:
    """A Markdown table of ``header`` and ``rows`` (pipes and line breaks in cells escaped)."""
    width = max([len(header), *(len(cells) for _, cells in rows)])

    def line(cells: list[str]) -> str:
        padded = [*cells, *[""] * (width - len(cells))]
        return "| " + " | ".join(_md_cell(c) for c in padded) + " |"

    head = [*header, *[f"column {i + 1}" for i in range(len(header), width)]]
    return "\n".join([line(head), "|" + "---|" * width, *(line(cells) for _, cells in rows)])


def _row_spans(markdown: str, boxes: list[tuple[float, float, float, float]]) -> list[list[float]]:
    """Highlight lines of a table item: its header's and rows' boxes on the crop, each with the
    characters of its Markdown line (the separator line has none)."""
    spans, start = [], 0
    lines = markdown.split("\n")
    for number, line in enumerate(lines):
        if number != 1 and boxes:
            box = boxes.pop(0)
            spans.append([*(round(v, 4) for v in box), start, start + len(line)])
        start += len(line) + 1
    return spans


def _md_cell(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _row_line(header: list[str], cells: list[str]) -> str:
    """One row as ``header: value; ...`` (empty cells left out)."""
    pairs = zip(header, cells, strict=False)
    return "; ".join(f"{h}: {v}" for h, v in pairs if v) or " ".join(cells)

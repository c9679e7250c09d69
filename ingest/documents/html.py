"""Local HTML (libxml2's HTML5 parser, through lxml) and Markdown (cmark-gfm, rendered to HTML):
the main text as one page; every ``<img>`` that is a file inside the root or a ``data:`` URI
becomes a figure with its alt text, figcaption, title and surrounding paragraph."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.documents.captions import figure_text
from ingest.documents.markup import markdown_to_html, parse_html
from ingest.documents.model import FigurePart, PagePart, ParsedDocument, ReadLimits
from ingest.documents.pictures_in import try_figure
from ingest.documents.sources import Remote, picture_bytes
from ingest.files import decode_utf8
from ingest.pixels import FigureBudget
from rag.errors import InvalidInputError

_SKIP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "head"}
_BREAK = {
    "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "figure", "figcaption",
    "section", "article", "main", "blockquote", "pre", "table", "tr", "td", "th", "br",
    "header", "footer", "nav", "aside", "dt", "dd", "hr",
}  # fmt: skip
_CONTEXT = {"p", "li", "figure", "td", "dd", "blockquote"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


MAX_CONTEXT_CHARS = 2000
"""Characters of a paragraph, list item or cell kept as the context of its pictures, at most."""


@dataclass
class _Capped:
    """Text kept up to ``MAX_CONTEXT_CHARS``; what comes after is dropped."""

    parts: list[str] = field(default_factory=list)
    size: int = 0

    def add(self, data: str) -> None:
        if self.size < MAX_CONTEXT_CHARS:
            piece = data[: MAX_CONTEXT_CHARS - self.size]
            self.parts.append(piece)
            self.size += len(piece)

    def joined(self) -> str:
        return " ".join("".join(self.parts).split())


@dataclass(eq=False)
class _Block:
    """An open (then closed) paragraph, list item, cell, quote or figure: the text around its
    pictures, and a figure's caption."""

    tag: str
    parent: _Block | None
    text: _Capped = field(default_factory=_Capped)
    caption: _Capped = field(default_factory=_Capped)
    closed_text: str = ""
    closed_caption: str = ""

    def close(self) -> None:
        self.closed_text, self.closed_caption = self.text.joined(), self.caption.joined()
        self.text, self.caption = _Capped(), _Capped()


@dataclass
class _Image:
    src: str
    alt: str
    title: str
    heading: str | None
    block: _Block | None = None
    """The innermost block open where the picture stands."""
    figcaption: str = ""
    context: str = ""


class _Collector:
    """The page's text, title, first heading and pictures, from the parser's events.

    A picture's context is the text of the innermost block around it that has text, its
    figcaption that of the innermost figure around it that has one. Every step costs time in
    proportion to its own text, whatever the nesting."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.main: list[str] = []
        self.title: list[str] = []
        self.images: list[_Image] = []
        self.first_heading = ""
        self._skip = 0
        self._main = 0
        self._in_title = False
        self._heading: list[str] | None = None
        self._last_heading: str | None = None
        self._blocks: list[_Block] = []
        self._figures: list[_Block] = []
        self._figcaption = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP:
            self._skip += 1
        if self._skip:
            return
        if tag in ("main", "article"):
            self._main += 1
        if tag in _BREAK:
            self._emit("\n")
        if tag in _HEADINGS:
            self._heading = []
        if tag in _CONTEXT:
            block = _Block(tag, self._blocks[-1] if self._blocks else None)
            self._blocks.append(block)
            if tag == "figure":
                self._figures.append(block)
        if tag == "figcaption":
            self._figcaption += 1
        if tag == "img":
            self._image(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag in _HEADINGS and self._heading is not None:
            heading = " ".join("".join(self._heading).split())
            self._last_heading = heading or self._last_heading
            self.first_heading = self.first_heading or heading
            self._heading = None
        if tag == "figcaption":
            self._figcaption = max(0, self._figcaption - 1)
        if tag in _CONTEXT and self._blocks:
            self._close_block()
        if tag in ("main", "article"):
            self._main = max(0, self._main - 1)
        if tag in _BREAK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if not data:
            return
        if self._in_title:
            self.title.append(data)
        if self._skip:
            return
        self._emit(data)
        if self._heading is not None:
            self._heading.append(data)
        if self._blocks:
            self._blocks[-1].text.add(data)
            if self._figcaption and self._figures:
                self._figures[-1].caption.add(data)

    def finish(self) -> None:
        """Give every picture its context and figcaption (once every block has closed)."""
        contexts: dict[_Block, str] = {}
        captions: dict[_Block, str] = {}
        for image in self.images:
            image.context = _inherited(image.block, lambda b: b.closed_text, contexts)
            image.figcaption = _inherited(image.block, lambda b: b.closed_caption, captions)

    def _emit(self, data: str) -> None:
        self.text.append(data)
        if self._main:
            self.main.append(data)

    def _image(self, attrs: dict[str, str | None]) -> None:
        image = _Image(
            src=attrs.get("src") or "",
            alt=(attrs.get("alt") or "").strip(),
            title=(attrs.get("title") or "").strip(),
            heading=self._last_heading,
            block=self._blocks[-1] if self._blocks else None,
        )
        self.images.append(image)
        if image.alt:
            self._emit(f" {image.alt} ")

    def _close_block(self) -> None:
        block = self._blocks.pop()
        block.close()
        if self._figures and self._figures[-1] is block:
            self._figures.pop()
        if block.parent is not None:
            block.parent.text.add(" " + block.closed_text + " ")


def _inherited(block: _Block | None, of: Callable[[_Block], str], known: dict[_Block, str]) -> str:
    """The first non-empty ``of(b)`` of ``block`` and the blocks around it, inside out (each
    block's answer is remembered in ``known``: all pictures together cost one pass)."""
    path: list[_Block] = []
    found = ""
    while block is not None:
        if block in known:
            found = known[block]
            break
        path.append(block)
        value = of(block)
        if value:
            found = value
            break
        block = block.parent
    for seen in path:
        known[seen] = found
    return found


@dataclass(frozen=True)
class Place:
    """Where a web document's local pictures may come from: its folder, confined to ``root``
    (``None``: an upload, which may use only ``data:`` pictures)."""

    base_dir: Path | None
    root: Path | None
    max_file_bytes: int
    anchor: Path | None = None
    """Where its pictures are opened from without following a symlink (default ``root``)."""


def read_html(data: bytes, name: str, limits: ReadLimits, place: Place) -> ParsedDocument:
    """The HTML file ``data`` as one page; raises :class:`InvalidInputError` if not UTF-8."""
    return _parse(decode_utf8(data, name), name, limits, place)


def read_markdown(data: bytes, name: str, limits: ReadLimits, place: Place) -> ParsedDocument:
    """The Markdown file ``data`` (CommonMark, rendered to HTML first) as one page."""
    html = markdown_to_html(decode_utf8(data, name))
    return _parse(html, name, limits, place)


def _parse(html: str, name: str, limits: ReadLimits, place: Place) -> ParsedDocument:
    collector = _Collector()
    parse_html(html, collector)
    collector.finish()
    parts = collector.main if "".join(collector.main).strip() else collector.text
    text = _tidy("".join(parts))
    title = " ".join("".join(collector.title).split()) or collector.first_heading or name
    parsed = ParsedDocument(title, [], 1)
    budget = FigureBudget(limits.max_decoded_pixels)
    figures = [
        f for f in (_figure(i, title, limits, place, budget, parsed) for i in collector.images) if f
    ]
    budget.end_page(1, parsed.notes)
    parsed.pages = [PagePart(1, text, None, figures, collector.first_heading or None)]
    return parsed


def _figure(
    image: _Image,
    title: str,
    limits: ReadLimits,
    place: Place,
    budget: FigureBudget,
    parsed: ParsedDocument,
) -> FigurePart | None:
    if not budget.room():  # counted, not read
        return None
    shown = image.src if len(image.src) < 80 else image.src[:77] + "..."
    try:
        data = picture_bytes(
            image.src, place.base_dir, place.root, place.max_file_bytes, place.anchor
        )
    except InvalidInputError as exc:
        parsed.notes.append(f"image {shown!r} refused: {exc}")
        return None
    if isinstance(data, Remote):
        parsed.remote_images += 1
        return None
    load = try_figure(data, limits, budget, parsed.notes, f"image {shown!r}")
    if load is None:
        return None
    caption = " — ".join(p for p in (image.alt, image.figcaption, image.title) if p)
    if image.context and image.context not in caption:
        caption = f"{caption}\n{image.context}" if caption else image.context
    return FigurePart(load, figure_text(caption, title, image.heading))


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)

"""HTML and Markdown parsed in linear time, bounded before the parse.

HTML goes through libxml2's HTML5 tokenizer (lxml), not the standard library's ``html.parser``,
whose unclosed ``<!--``, ``</`` or ``<a`` runs take quadratic time (CVE-2025-6069: 156 KiB took
10 s). Markdown goes through cmark-gfm (GitHub's C CommonMark, linear on pathological input),
not markdown-it-py (pure Python: 78 KiB of ``![`` took 4 s). Both refuse input with too many
tags or too deep a nesting, with a message that says so.

Example::

    parse_html("<p>Hello <b>world</b></p>", handler)  # handler.handle_starttag("html", []) ...
"""

from __future__ import annotations

from typing import Protocol

import cmarkgfm
from cmarkgfm.cmark import Options
from lxml import etree

from rag.errors import InvalidInputError

MAX_TAGS = 5_000_000
"""``<`` characters in one HTML document, at most (each may open an element; the reader costs
about 3 µs an element and keeps no tree)."""
MAX_DEPTH = 255
"""Elements nested in one another, at most."""
MAX_MARKDOWN_DEPTH = 200
"""Levels of HTML that one Markdown line's quotes, list markers and indent may open, at most
(a quote opens one, a list item two, each column of indent before a marker one)."""

_DIGITS = frozenset("0123456789")


class MarkupHandler(Protocol):
    """What :func:`parse_html` tells, in document order (the ``html.parser`` callbacks)."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None: ...

    def handle_endtag(self, tag: str) -> None: ...

    def handle_data(self, data: str) -> None: ...


def parse_html(html: str, handler: MarkupHandler) -> None:
    """Tell ``handler`` every element and text of ``html``, end tags that HTML implies included,
    comments and processing instructions left out; no tree is built. Raises
    :class:`InvalidInputError` past ``MAX_TAGS`` (counted before parsing), past ``MAX_DEPTH``,
    or when libxml2 gives up."""
    tags = html.count("<")
    if tags > MAX_TAGS:
        raise InvalidInputError(
            f"the document has {tags} HTML tags, more than the cap of {MAX_TAGS}; split it"
        )
    target = _Target(handler)
    parser = etree.HTMLParser(
        target=target,
        encoding="utf-8",
        recover=True,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        huge_tree=True,  # documents and text nodes past 10 MB (the file cap bounds them)
    )
    try:
        etree.fromstring(html.encode("utf-8", "surrogatepass"), parser)
    except InvalidInputError:
        raise
    except (etree.LxmlError, ValueError) as exc:
        if not html.strip():
            return
        raise InvalidInputError(f"unreadable HTML: {exc}") from None
    fatal = [e for e in parser.error_log if e.level == etree.ErrorLevels.FATAL]
    if fatal:
        raise InvalidInputError(f"unreadable HTML: {fatal[0].message} (line {fatal[0].line})")


class _Target:
    """lxml's parser target: libxml2's events passed on, nesting counted."""

    def __init__(self, handler: MarkupHandler) -> None:
        self.handler = handler
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidInputError(
                f"HTML nests elements more than {MAX_DEPTH} deep; nest them less deeply"
            )
        self.handler.handle_starttag(tag, list(attrib.items()))

    def end(self, tag: str) -> None:
        self.depth -= 1
        self.handler.handle_endtag(tag)

    def data(self, data: str) -> None:
        self.handler.handle_data(data)

    def comment(self, text: str) -> None:
        """Comments are not text."""

    def close(self) -> None:
        """Nothing to return: the handler holds what was read."""


def markdown_to_html(text: str) -> str:
    """CommonMark ``text`` as HTML (raw HTML kept, as CommonMark renders it); raises
    :class:`InvalidInputError` for a line nested deeper than ``MAX_MARKDOWN_DEPTH``."""
    for number, line in enumerate(text.splitlines(), 1):
        if _line_depth(line) > MAX_MARKDOWN_DEPTH:
            raise InvalidInputError(
                f"Markdown line {number} nests quotes and lists more than {MAX_MARKDOWN_DEPTH} "
                "levels deep; nest them less deeply"
            )
    return cmarkgfm.markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


def _line_depth(line: str) -> int:
    """An upper bound of the HTML levels the container markers opening ``line`` may open: each
    ``>`` one, each list marker two, each column of indent before a marker one."""
    depth = marked = index = 0
    while index < len(line) and marked <= MAX_MARKDOWN_DEPTH:
        char = line[index]
        end: int | None = index + 1
        if char in " \t":
            depth += 4 if char == "\t" else 1
        elif char == ">":
            depth += 1
            marked = depth
        elif (end := _list_marker_end(line, index)) is not None:
            depth += 2
            marked = depth
        else:
            break
        index = end
    return marked


def _list_marker_end(line: str, index: int) -> int | None:
    """The index after a list marker (``-``, ``*``, ``+``, ``1.``, ``1)``) at ``index`` that a
    space, a tab or the line's end follows; ``None`` when there is none."""
    end = index
    while end < len(line) and end - index < 9 and line[end] in _DIGITS:
        end += 1
    if end > index and line[end : end + 1] not in (".", ")"):
        return None
    if end == index and line[index] not in "-*+":
        return None
    return end + 1 if line[end + 1 : end + 2] in ("", " ", "\t") else None

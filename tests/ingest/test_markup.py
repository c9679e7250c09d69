"""The HTML and Markdown readers: their output, linear time on the inputs that made the standard
library's ``html.parser`` quadratic (CVE-2025-6069), and the bounds checked before parsing."""

from __future__ import annotations

import base64
import io
import time

import pytest
from PIL import Image

from ingest.documents.html import MAX_CONTEXT_CHARS, Place, read_html, read_markdown
from ingest.documents.markup import MAX_TAGS
from ingest.documents.model import ParsedDocument, ReadLimits
from rag.errors import InvalidInputError

KIB = 1024
UPLOAD = Place(None, None, 10 * 1024 * 1024)  # an upload: data: pictures only


def _png_uri(size: tuple[int, int] = (80, 80)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _page(doc: ParsedDocument):
    pages = list(doc.pages)
    assert len(pages) == 1
    return pages[0]


def test_html_text_title_heading_and_figure() -> None:
    html = (
        "<html><head><title>Plant tour</title><script>var hidden = 1</script></head><body>"
        "<nav>menu</nav><main><h2>Press</h2><figure><img src='" + _png_uri() + "' alt='Figure 5:"
        " The hydraulic press' title='Press'><figcaption>Our <em>press</em></figcaption></figure>"
        "<p>It presses &amp; bends.<!-- hidden --></p><p>one<br>two</p>"
        "<img src='https://example.com/remote.png'></main></body></html>"
    )
    doc = read_html(html.encode(), "tour.html", ReadLimits(), UPLOAD)
    page = _page(doc)
    assert doc.title == "Plant tour"
    assert page.text.splitlines() == [
        "Press",
        "Figure 5: The hydraulic press",
        "Our press",
        "It presses & bends.",
        "one",
        "two",
    ]
    assert page.heading == "Press"
    assert doc.remote_images == 1
    [figure] = page.figures
    assert figure.caption.startswith("Figure 5: The hydraulic press — Our press — Press")


def test_markdown_text_heading_and_figure() -> None:
    markdown = f'# Notes\n\nA *dry* well.\n\n![A dry well]({_png_uri()} "The well")\n\n- one\n'
    doc = read_markdown(markdown.encode(), "notes.md", ReadLimits(), UPLOAD)
    page = _page(doc)
    assert (doc.title, page.heading) == ("Notes", "Notes")
    assert page.text == "Notes\nA dry well.\nA dry well\none"
    [figure] = page.figures
    assert figure.caption.startswith("A dry well — The well")


HOSTILE_HTML = {
    "unclosed comments": "<!--" * (156 * KIB // 4),
    "unclosed end tags": "</" * (156 * KIB // 2),
    "unclosed start tags": "<a" * (156 * KIB // 2),
    "text and lone <": "x<" * (156 * KIB // 2),
}


@pytest.mark.parametrize("html", HOSTILE_HTML.values(), ids=HOSTILE_HTML.keys())
def test_156_kib_of_hostile_html_is_read_in_linear_time(html: str) -> None:
    started = time.perf_counter()
    read_html(html.encode(), "hostile.html", ReadLimits(), UPLOAD)
    assert time.perf_counter() - started < 1.0


HOSTILE_MARKDOWN = {
    "raw html block of lone <": "<div>\n" + "x<" * (78 * KIB // 2),
    "raw html block of comments": "<!--" * (78 * KIB // 4),
    "unclosed images": "![" * (78 * KIB // 2),
}


@pytest.mark.parametrize("markdown", HOSTILE_MARKDOWN.values(), ids=HOSTILE_MARKDOWN.keys())
def test_78_kib_of_hostile_markdown_is_read_in_linear_time(markdown: str) -> None:
    started = time.perf_counter()
    read_markdown(markdown.encode(), "hostile.md", ReadLimits(), UPLOAD)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("depth", [300, 3000, 100_000])
def test_html_nested_too_deep_is_refused_with_the_limit(depth: int) -> None:
    html = "<p>before</p>" + "<div>" * depth + "deep" + "</div>" * depth + "<p>after</p>"
    with pytest.raises(InvalidInputError, match="more than 255 deep"):
        read_html(html.encode(), "deep.html", ReadLimits(), UPLOAD)


def test_nested_blocks_copy_at_most_the_context_cap_of_each_other() -> None:
    words = "word " * 8_000  # 40 KB at each of 250 levels: 10 MB, a picture at the bottom
    html = ("<blockquote>" + words) * 250 + f"<img src='{_png_uri()}'>" + "</blockquote>" * 250
    started = time.perf_counter()
    page = _page(read_html(html.encode(), "quotes.html", ReadLimits(), UPLOAD))
    assert time.perf_counter() - started < 1.5
    [figure] = page.figures
    assert len(figure.caption.split("\n")[0]) <= MAX_CONTEXT_CHARS


def test_html_nested_within_the_limit_keeps_all_its_text() -> None:
    html = "<p>before</p>" + "<div>" * 200 + "deep" + "</div>" * 200 + "<p>after</p>"
    page = _page(read_html(html.encode(), "deep.html", ReadLimits(), UPLOAD))
    assert page.text == "before\ndeep\nafter"


@pytest.mark.parametrize("prefix", ["> ", "- ", ">"])
def test_markdown_nested_too_deep_is_refused_before_it_is_rendered(prefix: str) -> None:
    markdown = "fine\n\n" + prefix * 300 + "deep\n"
    with pytest.raises(InvalidInputError, match="line 3 nests quotes and lists"):
        read_markdown(markdown.encode(), "deep.md", ReadLimits(), UPLOAD)


def test_long_lines_that_open_nothing_are_not_taken_for_nesting() -> None:
    markdown = "-" * 500 + "\n\n" + " " * 500 + "code\n\n" + "2024. was a year\n"
    page = _page(read_markdown(markdown.encode(), "flat.md", ReadLimits(), UPLOAD))
    assert "code" in page.text and "was a year" in page.text


def test_html_with_too_many_tags_is_refused_before_parsing() -> None:
    html = "<br>" * (MAX_TAGS + 1)
    started = time.perf_counter()
    with pytest.raises(InvalidInputError, match=f"cap of {MAX_TAGS}"):
        read_html(html.encode(), "tags.html", ReadLimits(), UPLOAD)
    assert time.perf_counter() - started < 0.5


def test_html_past_libxml2s_10_mb_limits_is_read() -> None:
    html = "<pre>" + "a" * 11_000_000 + "</pre><p>after</p>"
    page = _page(read_html(html.encode(), "big.html", ReadLimits(), UPLOAD))
    assert page.text.endswith("a\nafter")

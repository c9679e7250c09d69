"""Highlights in the real page (real ``mmrag serve`` and headless Chromium): a PDF ingested
through the API, a question answered citing its page 3, and the cited page opened with a box
drawn over the line that holds the answer's words.

Runs after ``test_page.py`` (file order): the PDF it adds stays out of those tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from tests.ingest.documents_draw import PAGE_FACTS, write_pdf
from tests.ui.conftest import Server
from tests.ui.test_page import open_page, severe_console_lines, wait

pytestmark = pytest.mark.slow


def _words_box(path: Path, page: int, words: str) -> tuple[float, float, float, float]:
    """The box around ``words`` on ``page`` as fractions of the page (origin top left)."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        sheet = pdf[page - 1]
        width, height = sheet.get_size()
        text = sheet.get_textpage()
        start, count = text.search(words).get_next()
        boxes = [text.get_charbox(i) for i in range(start, start + count)]
        boxes = [b for b in boxes if b[2] > b[0]]
        return (
            min(b[0] for b in boxes) / width,
            1 - max(b[3] for b in boxes) / height,
            max(b[2] for b in boxes) / width,
            1 - min(b[1] for b in boxes) / height,
        )
    finally:
        pdf.close()


@pytest.fixture(scope="module")
def manual(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four-page manual, uploaded and ingested."""
    path = write_pdf(tmp_path_factory.mktemp("pdf") / "manual.pdf")
    server.ingest_pdf(path)
    return path


def test_a_cited_page_shows_a_highlight_over_the_answering_line(
    browser: Any, server: Server, manual: Path, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "chat", key=server.key)
    browser.find_element(By.ID, "question").send_keys(PAGE_FACTS[3])
    browser.find_element(By.ID, "chat-send").click()
    wait(browser, "document.querySelector('.msg.assistant .model')")
    opened = browser.execute_script(
        """const cited = JSON.parse(sessionStorage.getItem('mmrag.chat')).at(-1).citations;
        const index = cited.findIndex((c) => c.page === 3 && c.highlights.length);
        if (index < 0) return null;
        document.querySelectorAll('.msg.assistant .cited button')[index].click();
        return cited[index].highlights;"""
    )
    assert opened, "no citation of page 3 with highlights"
    wait(browser, "document.querySelector('#detail .marked img.large')?.naturalWidth > 0")
    wait(
        browser,
        "document.querySelector('#detail .marked img.large').getBoundingClientRect().height > 0",
    )
    drawn = browser.execute_script(
        """const img = document.querySelector('#detail .marked img.large').getBoundingClientRect();
        return [...document.querySelectorAll('#detail .marked .highlight')].map((el) => {
          const r = el.getBoundingClientRect();
          return [(r.left - img.left) / img.width, (r.top - img.top) / img.height,
                  (r.right - img.left) / img.width, (r.bottom - img.top) / img.height];
        });"""
    )
    assert len(drawn) == len(opened) >= 1
    x0, y0, x1, y1 = _words_box(manual, 3, "230 volts")
    slack = 0.01
    assert any(
        b[0] - slack <= x0 and b[1] - slack <= y0 and x1 <= b[2] + slack and y1 <= b[3] + slack
        for b in drawn
    ), (drawn, (x0, y0, x1, y1))
    heading = _words_box(manual, 3, "Section 3")
    assert not any(b[1] - slack <= heading[1] and heading[3] <= b[3] + slack for b in drawn)
    browser.save_screenshot(str(shots / "highlight.png"))
    assert not [line for line in severe_console_lines(browser) if "status of 4" not in line]

"""The search options' diversity in the real page (real ``mmrag serve`` and headless Chromium):
a three-page PDF ingested through the API, then searched with diversity off, collapse by
document and MMR, each option set in the page's own controls.

Runs after ``test_page.py`` (file order): the PDF it adds stays out of those tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ingest.documents_draw import write_pdf
from tests.ui.conftest import SEED, Server, seed_name
from tests.ui.test_page import open_page, severe_console_lines, wait

pytestmark = pytest.mark.slow

TITLE = "Harbour guide"
FACTS = {
    1: "The harbour ferry leaves the north pier every forty minutes from dawn.",
    2: "Boats longer than twelve metres moor at the outer breakwater only.",
    3: "The harbour office lends life jackets to visitors free of charge.",
}
QUERY = "harbour ferry pier"
TOP_K = 50
"""More than the collection holds: every item is on the page, whatever the tiny CLIP ranks."""

CARDS = """return [...document.querySelectorAll('#results .card')].map((card) => ({
  id: card.dataset.id,
  title: card.querySelector('.title').textContent.replace(/^\\d+\\. /, ''),
  folded: card.querySelector('.folded')?.textContent ?? null,
}));"""


@pytest.fixture(scope="module")
def guide(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The guide, uploaded and ingested; its document title."""
    path = write_pdf(tmp_path_factory.mktemp("guide") / "harbour.pdf", FACTS, TITLE)
    server.ingest_pdf(path)
    return TITLE


def _search_in_page(driver: Any, diversity: str, lambda_: float = 0.5) -> list[dict[str, Any]]:
    """Set the options (top k :data:`TOP_K`, ``diversity`` in its select, the MMR lambda, the
    collapse field left at ``document``), press Search; the cards shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    if not driver.find_element(By.CSS_SELECTOR, "#search-form details").get_property("open"):
        driver.find_element(By.CSS_SELECTOR, "#search-form details summary").click()
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(QUERY)
    top_k = driver.find_element(By.ID, "top-k")
    top_k.clear()
    top_k.send_keys(str(TOP_K))
    Select(driver.find_element(By.ID, "diversity")).select_by_value(diversity)
    mmr_lambda = driver.find_element(By.ID, "mmr-lambda")
    mmr_lambda.clear()
    mmr_lambda.send_keys(str(lambda_))
    driver.execute_script(
        "document.querySelector('#results').replaceChildren();"
        "document.querySelector('#search-status').textContent = '';"
    )
    driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait(driver, "/^\\d+ hits in/.test(document.querySelector('#search-status').textContent)")
    return driver.execute_script(CARDS)


def _api_ids(server: Server, **options: Any) -> list[str]:
    """The hits' ids of the same search through ``POST /v1/search`` over the socket."""
    response = httpx.post(
        server.url + "/v1/search",
        json={"text": QUERY, "top_k": TOP_K, **options},
        headers={"X-API-Key": server.key},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


def _of_guide(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [card for card in cards if card["title"].startswith(TITLE)]


def test_collapse_by_document_shows_one_card_per_document_with_its_fold_count(
    browser: Any, server: Server, guide: str, shots: Path
) -> None:
    open_page(browser, server, "search", key=server.key)
    plain = _search_in_page(browser, "")
    pages = _of_guide(plain)
    assert len(pages) >= len(FACTS)  # a card per page picture (and per passage, if any)
    assert all(card["folded"] is None for card in plain)

    collapsed = _search_in_page(browser, "collapse")
    assert [card["id"] for card in collapsed] == _api_ids(
        server, diversity={"mode": "collapse", "field": "document"}
    )
    [guide_card] = _of_guide(collapsed)
    assert guide_card["id"] == pages[0]["id"]  # the guide's best hit stands for it
    assert guide_card["folded"] == f"+{len(pages) - 1} like it"
    documents = [c["title"].split(",")[0] for c in collapsed if ", page " in c["title"]]
    assert len(documents) == len(set(documents))  # one card per document
    for text, _ in SEED:  # pictures outside any document: each kept
        assert any(seed_name(text) in card["title"] for card in collapsed), text
    browser.execute_script("document.querySelector('#search-form details').open = false")
    browser.save_screenshot(str(shots / "search-collapse.png"))
    assert severe_console_lines(browser) == []


def test_mmr_option_shows_the_order_the_api_gives_and_at_lambda_1_the_plain_order(
    browser: Any, server: Server, guide: str
) -> None:
    open_page(browser, server, "search", key=server.key)
    plain = [card["id"] for card in _search_in_page(browser, "")]
    spread = [card["id"] for card in _search_in_page(browser, "mmr", 0.3)]
    assert spread == _api_ids(server, diversity={"mode": "mmr", "lambda": 0.3})
    assert sorted(spread) == sorted(plain)  # every item still shown
    at_one = [card["id"] for card in _search_in_page(browser, "mmr", 1.0)]
    assert at_one == plain
    assert severe_console_lines(browser) == []

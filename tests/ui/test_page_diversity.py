"""The Search tab's diversity and fair-exposure options in a real browser (see conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ui.conftest import SEED, Server
from tests.ui.test_page import open_page, search_with, wait

pytestmark = pytest.mark.slow

OPTIONS = """const [diversity, field, fairBy] = arguments;
document.querySelector('#search-form details').open = true;
document.querySelector('#diversity').value = diversity;
document.querySelector('#collapse-field').value = field;
document.querySelector('#fair-by').value = fairBy;"""


def test_collapse_folds_hits_into_one_card_that_says_how_many(browser: Any, server: Server) -> None:
    open_page(browser, server, "search", key=server.key)
    browser.execute_script(OPTIONS, "collapse", "has_image", "")
    search_with(browser, SEED[0][0])
    cards = browser.execute_script(
        "return [...document.querySelectorAll('#results .card')].map((c) => c.textContent)"
    )
    assert len(cards) == 1
    assert re.search(r"\+\d+ like it", cards[0]), cards[0]

def test_fair_exposure_shows_the_groups_and_the_loss_in_the_status(
    browser: Any, server: Server
) -> None:
    open_page(browser, server, "search", key=server.key)
    browser.execute_script(OPTIONS, "", "document", "source")
    search_with(browser, SEED[0][0])
    status = wait(browser, "document.querySelector('#search-status').textContent")
    assert "fair by source" in status and "fused score loss" in status

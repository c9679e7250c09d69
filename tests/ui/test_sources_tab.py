"""The Sources tab in a real browser against a real ``mmrag serve`` (see conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import Server
from tests.ui.test_page import open_page, wait

pytestmark = pytest.mark.slow


def test_a_source_added_on_the_page_syncs_and_shows_its_error(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "sources", key=server.key)
    form = browser.find_element(By.ID, "source-form")
    form.find_element(By.NAME, "name").send_keys("offline-site")
    form.find_element(By.NAME, "kind").send_keys("web")
    form.find_element(By.NAME, "location").send_keys("http://127.0.0.1:9/sitemap.xml")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, "document.querySelector('[data-source=\"offline-site\"]')")
    browser.find_element(By.CSS_SELECTOR, "[data-source='offline-site'] button").click()
    error = wait(
        browser,
        "document.querySelector('[data-source=\"offline-site\"] .source-error')?.textContent",
    )
    assert "cannot fetch http://127.0.0.1:9/sitemap.xml" in error
    server.wait_for_jobs()
    assert server.get("/v1/sources/offline-site").json()["state"]["last_job"]

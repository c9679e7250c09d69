"""The web page in a real browser against a real ``mmrag serve`` (see conftest.py)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import SEED, Server, picture, seed_name

pytestmark = pytest.mark.slow

WAIT_S = 20

DROP = """
const [selector, data, name] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, {type: 'image/png'}));
const zone = document.querySelector(selector);
for (const type of ['dragover', 'drop']) {
  const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
  zone.dispatchEvent(new DragEvent(type, init));
}
"""

NEWEST_JOB_DONE_WITH = """document.querySelector('#jobs .job')?.dataset.state === 'done' &&
    document.querySelector('#jobs .job').textContent.includes(arguments[0])"""


def wait(driver: Any, script: str, *args: Any) -> Any:
    """Poll ``return <script>`` in the page until it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(
        lambda d: d.execute_script(f"return {script}", *args)
    )


def open_page(driver: Any, server: Server, tab: str = "search", key: str | None = None) -> None:
    """Load the page at ``tab`` with ``key`` in the browser's storage (none: no key)."""
    driver.get(server.url + "/ui/config.json")
    driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    if key:
        driver.execute_script("localStorage.setItem('mmrag.apiKey', arguments[0])", key)
    driver.get(f"{server.url}/#{tab}")
    wait(driver, "document.body.dataset.ready === '1'")


def search_with(driver: Any, text: str = "", weights: dict[str, float] | None = None) -> None:
    """Fill the search form (weighted fusion with ``weights`` when given) and press Search."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(text)
    if weights:
        driver.find_element(By.CSS_SELECTOR, "#search-form details summary").click()
        driver.execute_script(
            """const [weights] = arguments;
            document.querySelector('#fusion').value = 'weighted';
            document.querySelector('#weights-on').checked = true;
            for (const [name, value] of Object.entries(weights)) {
              const range = document.querySelector(`#weight-${name}`);
              range.value = value;
              range.dispatchEvent(new Event('input'));
            }""",
            weights,
        )
    before = driver.execute_script("return window.mmragTimings.firstThumb.length")
    driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait(driver, "window.mmragTimings.firstThumb.length > arguments[0]", before)


def first_result(driver: Any) -> dict[str, Any]:
    return driver.execute_script(
        """const card = document.querySelector('#results .card');
        const img = card.querySelector('img.thumb');
        return {title: card.querySelector('.title').textContent,
                width: img ? img.naturalWidth : 0, alt: img ? img.alt : '',
                signals: [...card.querySelectorAll('.score')].map((s) => s.dataset.signal)};"""
    )


def severe_console_lines(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def only_refused_requests_logged(driver: Any) -> bool:
    """Whether the console's errors since the last read are all 4xx answers (which a test
    provoked on purpose), nothing else."""
    lines = severe_console_lines(driver)
    return all(re.search(r"status of 4\d\d", line) for line in lines)


def test_without_a_key_the_page_asks_for_one_and_shows_no_data(
    browser: Any, server: Server, shots: Path
) -> None:
    open_page(browser, server, "library")
    assert browser.execute_script("return document.querySelector('#key-dialog').open")
    browser.save_screenshot(str(shots / "key.png"))
    assert browser.execute_script("return document.querySelectorAll('.card').length") == 0
    assert "API key" in browser.execute_script(
        "return document.querySelector('#library-status').textContent"
    )
    assert severe_console_lines(browser) == []


def test_with_the_key_typed_in_the_library_shows_the_items(
    browser: Any, server: Server, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "library")
    browser.find_element(By.ID, "key-input").send_keys(server.key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    count = wait(browser, "document.querySelectorAll('#library-items .card').length")
    assert count == len(SEED)
    wait(browser, "[...document.querySelectorAll('#library-items img')].every(i => i.naturalWidth)")
    assert browser.execute_script("return localStorage.getItem('mmrag.apiKey')") == server.key
    browser.save_screenshot(str(shots / "library.png"))


def test_search_by_text_shows_the_item_first_with_its_thumbnail(
    browser: Any, server: Server, shots: Path
) -> None:
    open_page(browser, server, "search", key=server.key)
    text = SEED[3][0]
    search_with(browser, text, weights={"image": 0, "text": 1})
    first = first_result(browser)
    assert seed_name(text) in first["title"]
    assert first["width"] > 0
    assert text in first["alt"]
    assert {"image", "text", "fused"} <= set(first["signals"])
    browser.execute_script("document.querySelector('#search-form details').open = false")
    browser.save_screenshot(str(shots / "search.png"))


def test_search_with_a_dropped_picture_finds_it_first(browser: Any, server: Server) -> None:
    open_page(browser, server, "search", key=server.key)
    text, color = SEED[1]
    data = base64.b64encode(picture(color)).decode()
    browser.execute_script(DROP, "#search-picker", data, "query.png")
    wait(browser, "!document.querySelector('#search-picker .preview').hidden")
    search_with(browser, "", weights={"image": 1, "text": 0})
    first = first_result(browser)
    assert seed_name(text) in first["title"]
    assert first["width"] > 0


def test_opening_a_hit_shows_the_picture_large_with_its_text(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "search", key=server.key)
    search_with(browser, SEED[0][0], weights={"image": 0, "text": 1})
    browser.find_element(By.CSS_SELECTOR, "#results .card .open").click()
    wait(browser, "document.querySelector('#detail img.large')?.naturalWidth > 0")
    body = browser.find_element(By.ID, "detail-body").text
    assert SEED[0][0] in body
    assert "colour" in body


def test_a_document_hit_opens_on_its_page_with_a_link_to_the_original(
    browser: Any, server: Server
) -> None:
    open_page(browser, server, "search", key=server.key)
    hit = {
        "id": "00000000-0000-0000-0000-000000000001",
        "text": "Quarterly figures",
        "metadata": {},
        "kind": "page",
        "document": {
            "id": "doc-1",
            "title": "Report 2026",
            "source": "r.pdf",
            "pages": 12,
            "file_url": "/v1/documents/doc-1/file#page=3",
        },
        "page": 3,
        "scores": {"image": 0.5, "text": 0.25, "passage": 0.75, "lexical": 7.5, "fused": 0.1},
    }
    browser.execute_async_script(
        """const [hit, done] = arguments;
        import('/ui/js/hits.js').then((m) => m.openDetail(hit)).then(done);""",
        hit,
    )
    detail = browser.execute_script(
        """const body = document.querySelector('#detail-body');
        return {title: document.querySelector('#detail-title').textContent,
                text: body.textContent, link: body.querySelector('a').getAttribute('href'),
                signals: [...body.querySelectorAll('.score')].map((s) => s.dataset.signal)};"""
    )
    assert detail["title"] == "Report 2026, page 3"
    assert "3 of 12" in detail["text"]
    assert detail["link"] == "/v1/documents/doc-1/file#page=3"
    assert detail["signals"] == ["image", "text", "passage", "lexical", "fused"]


def test_chat_streams_an_answer_with_cited_thumbnails(
    browser: Any, server: Server, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "chat", key=server.key)
    question = browser.find_element(By.ID, "question")
    question.send_keys(SEED[5][0])
    browser.find_element(By.ID, "chat-send").click()
    wait(browser, "document.querySelector('.msg.assistant .model')")
    answer = browser.execute_script(
        """const msg = document.querySelector('.msg.assistant');
        return {tokens: Number(msg.dataset.tokens || 0),
                model: msg.querySelector('.model').textContent,
                links: msg.querySelectorAll('a.cite').length};"""
    )
    assert answer["tokens"] >= 1
    assert "extractive" in answer["model"]
    assert answer["links"] >= 1
    wait(browser, "[...document.querySelectorAll('.cited img')].some(i => i.naturalWidth > 0)")
    browser.save_screenshot(str(shots / "chat.png"))


def test_chat_asks_with_a_dropped_picture(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "chat", key=server.key)
    data = base64.b64encode(picture(SEED[2][1])).decode()
    browser.execute_script(DROP, "#chat-picker", data, "question.png")
    wait(browser, "!document.querySelector('#chat-picker .preview').hidden")
    browser.find_element(By.ID, "chat-send").click()
    wait(browser, "document.querySelector('.msg.assistant .model')")
    assert browser.execute_script("return document.querySelector('.msg.user img').naturalWidth")
    assert browser.execute_script("return document.querySelectorAll('.cited li').length") >= 1


def test_an_upload_through_the_page_is_ingested_and_then_found(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    """A picture and its same-stem .txt caption become one item, found by the caption's words."""
    from selenium.webdriver.common.by import By

    upload, caption = tmp_path / "orange-disc.png", tmp_path / "orange-disc.txt"
    upload.write_bytes(picture((250, 130, 10), shape="disc"))
    caption.write_text("an orange disc drawn on white paper")
    open_page(browser, server, "ingest", key=server.key)
    browser.find_element(By.ID, "ingest-files").send_keys(f"{upload}\n{caption}")
    wait(browser, "document.querySelector('#ingest-status').textContent.startsWith('1 of 1 items')")
    wait(browser, NEWEST_JOB_DONE_WITH, "1 of 1 seen")
    open_page(browser, server, "search", key=server.key)
    search_with(browser, caption.read_text(), weights={"image": 0, "text": 1})
    first = first_result(browser)
    assert "orange-disc.png" in first["title"]
    assert first["width"] > 0


def test_status_shows_readiness_and_the_models(browser: Any, server: Server, shots: Path) -> None:
    open_page(browser, server, "status", key=server.key)
    text = wait(
        browser,
        "document.querySelector('#status-body table + h2 + table') &&"
        " document.querySelector('#status-body').textContent",
    )
    assert "ready" in text
    assert "mmrag-tiny" in text
    browser.save_screenshot(str(shots / "status.png"))


def test_ingest_lists_each_refused_file_with_its_reason(
    browser: Any, server: Server, shots: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    good, bad = tmp_path / "teal-square.png", tmp_path / "notes.txt"
    good.write_bytes(picture((10, 150, 150)))
    bad.write_text("not a picture")
    open_page(browser, server, "ingest", key=server.key)
    browser.find_element(By.ID, "ingest-files").send_keys(f"{good}\n{bad}")
    refused = wait(browser, "document.querySelector('#ingest-refused li')?.textContent")
    assert refused.startswith("notes.txt: not a supported image")
    assert "1 of 2 items" in browser.find_element(By.ID, "ingest-status").text
    wait(browser, NEWEST_JOB_DONE_WITH, "notes.txt")
    browser.save_screenshot(str(shots / "ingest.png"))


def test_server_paths_show_the_servers_answer(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "ingest", key=server.key)
    browser.find_element(By.ID, "paths").send_keys("/no/such/folder/for/mmrag")
    browser.find_element(By.CSS_SELECTOR, "#paths-form button[type=submit]").click()
    text = wait(browser, "document.querySelector('#ingest-status').textContent")
    assert text.startswith("The server refused the paths: ") or "queued" in text
    assert only_refused_requests_logged(browser)
    server.wait_for_jobs()


def test_a_failed_item_is_listed_and_its_retry_runs_only_it(
    browser: Any, server: Server, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    assert server.roots is not None
    folder = server.roots / "retry-set"
    folder.mkdir()
    (folder / "fine.png").write_bytes(picture((20, 160, 40)))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"corrupt" * 20)
    open_page(browser, server, "ingest", key=server.key)
    browser.find_element(By.ID, "paths").send_keys(str(folder))
    browser.find_element(By.CSS_SELECTOR, "#paths-form button[type=submit]").click()
    wait(browser, NEWEST_JOB_DONE_WITH, "broken.png")
    first = browser.execute_script("return document.querySelector('#jobs .job').dataset.id")
    (folder / "broken.png").write_bytes(picture((200, 40, 160), shape="disc"))  # fixed
    browser.find_element(By.CSS_SELECTOR, "#jobs .job button.retry").click()
    wait(browser, NEWEST_JOB_DONE_WITH, f"retry of {first}")
    newest = browser.find_element(By.CSS_SELECTOR, "#jobs .job").text
    assert "1 of 1 seen · 1 written" in newest and "broken.png" not in newest
    assert not browser.find_elements(By.CSS_SELECTOR, "#jobs .job:first-child button.retry")
    browser.save_screenshot(str(shots / "ingest-retry.png"))


def test_a_refused_question_is_shown_as_a_message(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "chat", key=server.key)
    browser.execute_script("document.querySelector('#question').value = 'x'.repeat(5000)")
    browser.find_element(By.ID, "chat-send").click()
    error = wait(browser, "document.querySelector('.msg.assistant .error')?.textContent")
    assert "5000 characters" in error
    assert only_refused_requests_logged(browser)


@pytest.mark.parametrize("tab", ["search", "chat", "ingest", "library", "sources", "status"])
def test_at_375_px_no_tab_scrolls_sideways(
    browser: Any, server: Server, shots: Path, tab: str
) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 740, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        open_page(browser, server, tab, key=server.key)
        if tab == "search":
            search_with(browser, SEED[0][0])
            browser.save_screenshot(str(shots / "search-375.png"))
        widths = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == 375
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


UNLABELLED = """return [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) &&
          !el.getAttribute('aria-label') && !(el.textContent || '').trim())
  .map((el) => el.id || el.outerHTML.slice(0, 80));"""


def test_every_picture_has_an_alt_text_and_every_control_a_name(
    browser: Any, server: Server
) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, server, "chat", key=server.key)
    browser.find_element(By.ID, "question").send_keys(SEED[0][0])
    browser.find_element(By.ID, "chat-send").click()
    wait(browser, "document.querySelector('.msg.assistant .model')")
    for tab in ("search", "chat", "ingest", "library", "sources", "status"):
        browser.get(f"{server.url}/#{tab}")
        wait(browser, "document.body.dataset.ready === '1'")
        if tab == "search":
            search_with(browser, SEED[0][0])
        assert browser.execute_script(UNLABELLED) == [], tab
        no_alt = "return [...document.querySelectorAll('img')].filter((i) => !i.alt).length"
        assert browser.execute_script(no_alt) == 0, tab


def press_tab_until(browser: Any, script: str, most: int = 25) -> None:
    """Press Tab until ``script`` is true of ``document.activeElement`` (``el``)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    for _ in range(most):
        if browser.execute_script(f"const el = document.activeElement; return {script}"):
            return
        ActionChains(browser).send_keys(Keys.TAB).perform()
    raise AssertionError(f"Tab never reached {script}")


def test_search_works_from_the_keyboard(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, server, "search", key=server.key)
    press_tab_until(browser, "el.id === 'q'")
    ActionChains(browser).send_keys(SEED[0][0], Keys.ENTER).perform()
    wait(browser, "document.querySelectorAll('#results .card').length > 0")
    press_tab_until(browser, "el.matches('#results .card .open')")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait(browser, "document.querySelector('#detail').open")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait(browser, "!document.querySelector('#detail').open")


def test_the_api_docs_load_from_local_assets(browser: Any, server: Server) -> None:
    browser.get(server.url + "/docs")
    wait(browser, "document.querySelector('.swagger-ui .info .title')")
    browser.get(server.url + "/redoc")
    wait(browser, "document.querySelector('redoc h1, [role=\"main\"] h1, h1')")


def test_no_console_errors_in_the_session(browser: Any) -> None:
    assert severe_console_lines(browser) == []

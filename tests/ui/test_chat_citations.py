"""The chat tab's citations and follow-ups in a real browser against a real ``mmrag serve``
(see conftest.py: tiny CLIP, extractive answers): which item an answer cites, the picture shown
for it, and a second turn that carries the first."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ui.conftest import SEED, Server, seed_name
from tests.ui.test_page import open_page, wait

pytestmark = pytest.mark.slow

RED, BLUE = SEED[0], SEED[1]

RECORD_FETCHES = """
window.__fetches = [];
const original = window.fetch;
window.fetch = (input, init = {}) => {
  const body = typeof init.body === 'string' ? init.body : null;
  window.__fetches.push({url: String(input.url || input), body});
  return original(input, init);
};
"""

ANSWERS_DONE = "document.querySelectorAll('.msg.assistant .model').length >= arguments[0]"

CITED = """
const msg = [...document.querySelectorAll('.msg.assistant')][arguments[0]];
return {
  links: [...msg.querySelectorAll('a.cite')].map((a) => a.getAttribute('href')),
  cited: [...msg.querySelectorAll('.cited li')].map((li) => li.querySelector('.n').textContent),
  error: msg.querySelector('.error')?.textContent || null,
};
"""

CENTRE_COLOUR = """(() => {
const [index, name] = arguments;
const msg = [...document.querySelectorAll('.msg.assistant')][index];
const img = msg.querySelector(`.cited button[title="${name}"] img.thumb`);
if (!img || !img.complete || img.naturalWidth === 0) return null;
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth;
canvas.height = img.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(img, 0, 0);
const [r, g, b] = context.getImageData(img.naturalWidth >> 1, img.naturalHeight >> 1, 1, 1).data;
return [r, g, b];
})()"""


def item_id(server: Server, text: str) -> str:
    """The id of the seed item with ``text``."""
    items = server.get("/v1/items?limit=200").json()["items"]
    return next(item["id"] for item in items if item.get("text") == text)


def ask(driver: Any, question: str, answers: int) -> None:
    """Type ``question``, send it, wait until the page shows ``answers`` finished answers."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "question")
    box.send_keys(question)
    driver.find_element(By.ID, "chat-send").click()
    wait(driver, ANSWERS_DONE, answers)


def close_to(colour: list[int] | None, expected: tuple[int, int, int]) -> bool:
    """Whether ``colour`` (RGB) is within 24 of ``expected`` in every channel."""
    if colour is None:
        return False
    return all(abs(a - b) <= 24 for a, b in zip(colour, expected, strict=True))


def chat_bodies(driver: Any) -> list[dict[str, Any]]:
    """The JSON bodies the page sent to ``/v1/chat``, in order."""
    fetches = driver.execute_script("return window.__fetches")
    return [json.loads(f["body"]) for f in fetches if f["url"].endswith("/v1/chat")]


def test_an_answer_links_the_cited_item_lists_it_by_name_and_shows_its_picture(
    browser: Any, server: Server
) -> None:
    from selenium.webdriver.common.by import By

    red = item_id(server, RED[0])
    open_page(browser, server, "chat", key=server.key)
    ask(browser, RED[0], 1)
    answer = browser.execute_script(CITED, 0)
    assert answer["error"] is None
    assert f"#item-{red}" in answer["links"]
    assert any(line.endswith(f"] {seed_name(RED[0])}") for line in answer["cited"])
    colour = wait(browser, CENTRE_COLOUR, 0, seed_name(RED[0]))
    assert close_to(colour, RED[1]), colour

    browser.find_element(By.CSS_SELECTOR, f'.msg.assistant a.cite[href="#item-{red}"]').click()
    wait(browser, "document.querySelector('#detail img.large')?.naturalWidth > 0")
    assert RED[0] in browser.find_element(By.ID, "detail-body").text


def test_a_follow_up_sends_the_first_turn_and_shows_the_item_it_asks_about(
    browser: Any, server: Server
) -> None:
    red, blue = item_id(server, RED[0]), item_id(server, BLUE[0])
    open_page(browser, server, "chat", key=server.key)
    browser.execute_script(RECORD_FETCHES)
    ask(browser, RED[0], 1)
    first = browser.execute_script(CITED, 0)
    ask(browser, "and the blue one?", 2)

    second_body = chat_bodies(browser)[1]
    history = second_body["history"]
    assert [turn["role"] for turn in history] == ["user", "assistant"]
    assert history[0]["content"] == RED[0]
    assert red in history[1]["citations"]

    second = browser.execute_script(CITED, 1)
    assert second["error"] is None
    assert f"#item-{blue}" in second["links"]
    assert any(line.endswith(f"] {seed_name(BLUE[0])}") for line in second["cited"])
    colour = wait(browser, CENTRE_COLOUR, 1, seed_name(BLUE[0]))
    assert close_to(colour, BLUE[1]), colour
    assert browser.execute_script(CITED, 0) == first  # the first turn is still shown as it was
    assert browser.execute_script("return document.querySelectorAll('.msg.user').length") == 2

"""Bad filters through the real app: each a 400 that says what to fix, never a 500, in either form
(one string or a list of expressions), on search, chat and the OpenAI- and Ollama-compatible
chats; a hostile filter costs no time."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from rag.services import Services
from tests.api.conftest import add_item

HUGE = "9" * 30
ASK = [{"role": "user", "content": "a red square"}]
BODIES = {
    "/v1/search": {"text": "a red square"},
    "/v1/chat": {"question": "a red square"},
    "/v1/chat/completions": {"messages": ASK},
    "/api/chat": {"messages": ASK, "stream": False},
}


@pytest.fixture(scope="module")
def items(services: Services, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("pictures")
    add_item(services, folder, "a red square on a mat", None, {"year": 2003, "day": "2024-05-01"})


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        (f"metadata.year={HUGE}", "outside the stored range"),
        (f"metadata.year=2003|{HUGE}", "outside the stored range"),
        (f"metadata.year!=-{HUGE}", "outside the stored range"),
        ("metadata.year=" + "9" * 3000, "outside the stored range"),
        ("metadata.year>=" + "9" * 400, "too large"),
        ("metadata.day>=9999-12-31T23:00:00-05:00", "0001 to 9999"),
        ("metadata.day<0001-01-01T00:30:00+01:00", "0001 to 9999"),
        ("metadata..year=2003", "empty part between dots"),
        ("metadata.=2003", "empty part between dots"),
        (".metadata.year>=2003", "cannot read filter"),
    ],
)
@pytest.mark.parametrize("as_list", [False, True])
@pytest.mark.parametrize("route", list(BODIES))
def test_bad_filters_are_400s_that_say_what_to_fix(
    client: TestClient, items: None, route: str, as_list: bool, expression: str, words: str
) -> None:
    flt: str | list[str] = [expression] if as_list else expression
    response = client.post(route, json={**BODIES[route], "filter": flt})
    assert response.status_code == 400, response.text
    assert words in response.json()["message"]


@pytest.mark.parametrize(
    "flt",
    [
        ["metadata.year=2003", "metadata.day>=2024-04-30"],
        ["metadata.year<=9223372036854775807", "metadata.day<9999-12-31T23:59:59Z"],
        ["metadata.year=-9223372036854775808|2003", "metadata.day>0001-01-01"],
    ],
)
def test_good_filters_at_the_edges_still_find_the_item(client: TestClient, items, flt) -> None:
    body = {"text": "a red square", "filter": flt}
    response = client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    assert [hit["text"] for hit in response.json()["hits"]] == ["a red square on a mat"]


@pytest.mark.parametrize(
    "flt",
    [
        "a=x" + " " * 64_000 + "y",  # one expression: the old pattern took 22 s over it
        ["metadata.year=1"] * 4_000,  # 64 KB as many expressions
        "a=" + "x|" * 32_000 + "x",  # 64 KB of alternatives
    ],
    ids=["one-expression", "many-expressions", "many-alternatives"],
)
def test_a_64_kb_filter_is_refused_at_once(client: TestClient, items, flt) -> None:
    started = time.perf_counter()
    response = client.post("/v1/search", json={"text": "a red square", "filter": flt})
    assert time.perf_counter() - started < 0.5
    assert response.status_code == 400, response.text
    assert "cap of" in response.json()["message"]

"""Request ids: echoed or made per request (``X-Request-ID``), carried by every log line made
while the request is served (also in the thread pool), as JSON lines with
``MMRAG_LOG__FORMAT=json``."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.request_ids import install_request_ids
from rag.config import LogSettings
from rag.log_format import JsonFormatter, configure_logging, request_scope


@pytest.fixture
def logged() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mmrag.test.request_ids")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def _app() -> FastAPI:
    app = FastAPI()
    install_request_ids(app)

    @app.get("/work")
    def work() -> dict:  # a plain def: runs in the thread pool
        logging.getLogger("mmrag.test.request_ids").info("working")
        return {}

    return app


def test_a_given_id_is_echoed_and_carried_by_the_log_lines(logged: io.StringIO) -> None:
    with TestClient(_app()) as client:
        response = client.get("/work", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    line = json.loads(logged.getvalue().splitlines()[-1])
    assert line["request_id"] == "abc-123"
    assert line["message"] == "working" and line["level"] == "INFO"
    assert line["logger"] == "mmrag.test.request_ids" and line["time"].endswith("Z")


@pytest.mark.parametrize("given", [None, "x" * 65, b"bad id\xe9", "a;b"])
def test_a_missing_or_odd_id_is_replaced_by_a_new_one(logged: io.StringIO, given) -> None:
    headers = {"X-Request-ID": given} if given else {}
    with TestClient(_app()) as client:
        first = client.get("/work", headers=headers).headers["x-request-id"]
        second = client.get("/work", headers=headers).headers["x-request-id"]
    assert first != second and len(first) == 32
    ids = [json.loads(line)["request_id"] for line in logged.getvalue().splitlines()]
    assert ids == [first, second]


def test_lines_outside_a_request_have_no_id_and_exceptions_are_kept() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    assert "request_id" not in json.loads(formatter.format(record))
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    with request_scope("r1"):
        line = json.loads(formatter.format(record))
    assert line["request_id"] == "r1" and "ValueError: boom" in line["exception"]
    assert line["message"] == "failed here"


def test_the_app_answers_with_a_request_id(client: TestClient) -> None:
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_configure_logging_json(monkeypatch: pytest.MonkeyPatch, settings) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging(settings.model_copy(update={"log": LogSettings(format="json")}))
    assert isinstance(root.handlers[0].formatter, JsonFormatter)

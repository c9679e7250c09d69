"""Helpers for running LangChain's standard test suites (langchain-tests) here."""

from __future__ import annotations

from typing import TypeVar

import pytest

T = TypeVar("T", bound=type)


def with_async_tests(cls: T) -> T:
    """Let pytest-asyncio run the suite's ``async`` tests (its sync tests ignore the mark)."""
    cls = pytest.mark.asyncio(cls)
    return pytest.mark.filterwarnings(
        "ignore:The test <Function .* is marked with '@pytest.mark.asyncio'"
    )(cls)

"""Third-party INFO lines (the ONNX export's ``onnx_ir`` pass reports) stay out of the CLI's
log unless ``MMRAG_LOG_LEVEL=DEBUG``."""

from __future__ import annotations

import logging

import pytest

from mmrag_cli.common import settings_from_cli

ONNX_PASS = "onnx_ir.passes.common.initializer_deduplication"


def test_third_party_info_is_kept_out_and_mmrag_left_alone(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MMRAG_LOG_LEVEL", "INFO")
    settings_from_cli()
    assert not logging.getLogger(ONNX_PASS).isEnabledFor(logging.INFO)
    assert logging.getLogger(ONNX_PASS).isEnabledFor(logging.WARNING)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("rag").level == logging.NOTSET  # mmrag follows MMRAG_LOG_LEVEL


def test_debug_lets_third_party_lines_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMRAG_LOG_LEVEL", "DEBUG")
    settings_from_cli()
    assert logging.getLogger(ONNX_PASS).isEnabledFor(logging.DEBUG)
    monkeypatch.setenv("MMRAG_LOG_LEVEL", "INFO")
    settings_from_cli()

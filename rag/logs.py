"""Logging defaults: third-party libraries kept quiet, so a user reads mmrag's own lines."""

from __future__ import annotations

import logging

THIRD_PARTY_LOGGERS = (
    "onnx_ir", "onnxscript", "torch", "httpx", "httpcore", "urllib3", "huggingface_hub",
    "filelock", "matplotlib", "PIL", "qdrant_client", "multipart",
)  # fmt: skip
"""Libraries whose INFO lines (the ONNX export's hundreds of ``onnx_ir`` pass reports, each HTTP
request) would bury mmrag's own; they log at WARNING and above unless ``MMRAG_LOG_LEVEL=DEBUG``."""


def quiet_third_party_logs(level: str) -> None:
    """Keep :data:`THIRD_PARTY_LOGGERS` at WARNING (all of them at DEBUG when ``level`` is)."""
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)

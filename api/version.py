"""The installed version of mmrag."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("mmrag")
except PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0.0.0+src"

"""The Dockerfile, read statically (no Docker engine runs here): a builder stage with a compiler
for llama-cpp-python, CPU torch by default, every package copied, a runtime without compiler."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _stages() -> list[str]:
    text = (REPO / "Dockerfile").read_text()
    return re.split(r"^FROM ", text, flags=re.M)[1:]


def test_builder_has_a_compiler_and_the_runtime_has_none() -> None:
    builder, runtime = _stages()
    assert builder.startswith("${PYTHON_IMAGE} AS builder")
    assert "build-essential" in builder and "cmake" in builder
    assert "build-essential" not in runtime and "--no-index" in runtime


def test_cpu_torch_by_default() -> None:
    builder = _stages()[0]
    assert re.search(r"ARG TORCH_INDEX_URL=\S+/whl/cpu", builder)


def test_every_package_is_copied() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    builder = _stages()[0]
    for package in packages:
        assert f"COPY {package} ./{package}" in builder

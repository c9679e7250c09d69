"""What every sub-command shares: settings, error reporting and the list of command modules."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import typer

from rag.config import Settings, load_settings
from rag.errors import MmragError
from rag.log_format import configure_logging
from rag.logs import quiet_third_party_logs

COMMAND_MODULES: tuple[str, ...] = (
    "mmrag_cli.ingest_cmd",
    "mmrag_cli.search_cmd",
    "mmrag_cli.serve_cmd",
    "mmrag_cli.mcp_cmd",
    "mmrag_cli.demo_cmd",
    "mmrag_cli.finetune_cmd",
    "mmrag_cli.classify_cmd",
    "mmrag_cli.moderate_cmd",
    "mmrag_cli.quality_cmd",
    "mmrag_cli.audit_cmd",
    "mmrag_cli.config_cmd",
    "mmrag_cli.backup_cmd",
    "mmrag_cli.sources_cmd",
    "mmrag_cli.collection_cmd",
)
"""Modules that define sub-commands; a module not written yet is left out."""


def command_modules() -> Iterator[ModuleType]:
    for name in COMMAND_MODULES:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn mmrag's errors into one line on stderr and exit code 2 (no traceback)."""
    try:
        yield
    except MmragError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def settings_from_cli(**overrides: Any) -> Settings:
    """Settings from the environment, with CLI options that were given (not None) on top."""
    with cli_errors():
        settings = load_settings()
        if overrides:
            data = settings.model_dump()
            for dotted, value in overrides.items():
                if value is None:
                    continue
                target = data
                *parents, leaf = dotted.split(".")
                for part in parents:
                    target = target[part]
                target[leaf] = value
            settings = load_settings(**data)
    configure_logging(settings)
    quiet_third_party_logs(settings.log_level)
    return settings


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")

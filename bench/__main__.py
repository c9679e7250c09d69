"""Run every benchmark in turn: ``python -m bench [--quick]``."""

from __future__ import annotations

import importlib
import subprocess
import sys

BENCHMARKS = (
    "embedder",
    "store",
    "ingest",
    "documents",
    "queue",
    "sync",
    "retrieval",
    "chat",
    "mcp",
)


def main() -> int:
    args = sys.argv[1:]
    failed = []
    for name in BENCHMARKS:
        try:
            importlib.util.find_spec(f"bench.{name}")
        except ModuleNotFoundError:
            continue
        print(f"\n=== bench.{name} ===", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.{name}", *args]) != 0:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The import layering of the packages, read from their source (nothing is imported or run).

Every ``import`` counts, also those inside functions: an import moved into a function still
makes a circle, it only hides it until the function runs.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "ingest", "api", "mmrag_cli", "bench", "tests")


@cache
def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _owner(name: str) -> str | None:
    """The project module that ``name`` (a module, or a name in one) lives in."""
    modules = _modules()
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@cache
def _imports(module: str) -> frozenset[str]:
    """The project modules that ``module`` imports, anywhere in its file."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports_in(path.read_text(), module, package)


def _imports_in(source: str, module: str, package: str) -> frozenset[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # ``from pkg import submodule`` depends on the submodule, else on ``base`` itself
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in _modules() else base
                for alias in node.names
            ]
        else:
            continue
        found.update(owner for name in names if (owner := _owner(name)) not in (None, module))
    return frozenset(found)


def _in(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def _circles(packages: tuple[str, ...]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan's algorithm)."""
    nodes = [module for module in _modules() if _in(module, *packages)]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in _imports(node):
            if not _in(other, *packages):
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while (top := stack.pop()) != node:
                group.append(top)
            if group:
                circles.append(sorted([node, *group]))

    for node in nodes:
        if node not in index:
            visit(node)
    return circles


def test_the_packages_import_in_no_circle() -> None:
    assert _circles(("rag", "ingest", "api", "mmrag_cli")) == []


def _crossings(sources: tuple[str, ...], targets: tuple[str, ...]) -> set[tuple[str, str]]:
    """(module, what it imports) for each module of ``sources`` importing one of ``targets``."""
    return {
        (module, other)
        for module in _modules()
        if _in(module, *sources)
        for other in _imports(module)
        if _in(other, *targets)
    }


def test_rag_imports_no_shell() -> None:
    assert _crossings(("rag",), ("api", "ingest", "mmrag_cli", "bench", "tests")) == set()


def test_no_route_module_imports_another() -> None:
    assert _crossings(("api.routes",), ("api.routes",)) == set()


def test_bench_imports_no_test_module() -> None:
    assert _crossings(("bench",), ("tests",)) == set()


def test_imports_inside_functions_and_relative_ones_count() -> None:
    source = (
        "from rag import config\n"
        "def build():\n"
        "    from rag.embedding.backends import build_backend\n"
        "    from .torch_runtime import TorchBackend\n"
        "    import ingest.queue\n"
    )
    found = _imports_in(source, "rag.embedding.onnx_runtime", "rag.embedding")
    assert found == {
        "rag.config",
        "rag.embedding.backends",
        "rag.embedding.torch_runtime",
        "ingest.queue",
    }

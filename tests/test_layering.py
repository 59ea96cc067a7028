"""The import graph of the package: no cycles, and the layering DESIGN.md draws.

Every ``import`` and ``from ... import`` of every module under ``firefly/`` is
read from its source (those under ``TYPE_CHECKING`` included), so a cycle
fails here even where Python would tolerate it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "firefly"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_by(name: str, path: Path, known: set[str]) -> set[str]:
    """The firefly modules ``name`` imports: a ``from X import y`` counts ``X.y`` when y is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported_by(name, path, set(found)) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules, first and last the same; None if none."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return path[path.index(imported) :] + [imported]
            if imported not in state and (cycle := visit(imported)):
                return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_imports():
    graph = import_graph()
    assert "firefly.features" in graph["firefly.dispatch"]
    assert "firefly.routes.openapi" in graph["firefly.routes.docs"]
    assert "firefly.config.options" in graph["firefly.registry"]


def test_no_module_imports_itself_through_others():
    assert find_cycle(import_graph()) is None


def importers_of(module: str) -> set[str]:
    return {name for name, imported in import_graph().items() if module in imported}


def test_nothing_imports_the_cli_but_its_own_modules():
    assert {name for name in importers_of("firefly.cli")} <= {"firefly.__main__"}
    for name in importers_of("firefly.cli.serve"):
        assert name.startswith("firefly.cli")


@pytest.mark.parametrize("module", ["firefly.app"])
def test_only_the_entry_points_import_the_app(module):
    assert importers_of(module) <= {
        "firefly",
        "firefly.main",
        "firefly.server.gunicorn",
        "firefly.server.granian",
        "firefly.server.reloading",
        "firefly.cli.serve",
        "firefly.cli.worker",
    }


def test_the_client_shares_only_the_errors_and_what_a_file_is():
    assert import_graph()["firefly.client"] == {
        "firefly.errors",
        "firefly.files",
        "firefly.remote_execution",
    }
    assert import_graph()["firefly.remote_execution"] == {"firefly.errors"}


def test_features_do_not_import_the_app_or_the_servers():
    graph = import_graph()
    for name in ("firefly.features", "firefly.routes", "firefly.telemetry"):
        feature_modules = [module for module in graph if module.startswith(name)]
        for module in feature_modules:
            assert not graph[module] & {"firefly.app", "firefly.server", "firefly.cli"}, module


def test_no_module_is_over_about_400_lines():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > 420
    }
    assert long == {}

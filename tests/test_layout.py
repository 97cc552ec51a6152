"""The harness's folders are its design: layers that import only downward, no import circle, and
`algorithms/` and `tasks/` free of the harness. Imports inside functions count too; imports under
`if TYPE_CHECKING:` do not (they never run)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import harness

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Modules `path` imports at run time (a `from pkg import name` counts as pkg.name when that is a module)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def harness_modules() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in (ROOT / "harness").rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def layer(module: str) -> int:
    return harness.LAYERS.index(module.split(".")[1])


def test_every_module_sits_in_a_layer_and_imports_only_downward():
    graph = harness_modules()
    upward = [f"{m} → {dep}" for m, deps in graph.items() if m != "harness" for dep in deps
              if dep != "harness" and layer(dep) > layer(m)]
    assert upward == []
    outside = [m for m in graph if m != "harness" and m.split(".")[1] not in harness.LAYERS]
    assert outside == [], "every module belongs to a layer named in harness.LAYERS"


def test_no_import_circle():
    graph = harness_modules()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            if dep == "harness":
                continue
            assert state.get(dep) != 1, "import circle: " + " → ".join(path + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_algorithms_and_tasks_import_nothing_from_the_harness():
    offending = [f"{module_name(p)} imports {m}" for folder in ("algorithms", "tasks") for p in (ROOT / folder).rglob("*.py")
                 for m in imports_of(p) if m == "harness" or m.startswith("harness.")]
    assert offending == []


@pytest.mark.parametrize("old", sorted(harness.MOVED))
def test_the_flat_import_paths_are_aliases_of_the_moved_modules(old):
    moved = importlib.import_module(f"harness.{harness.MOVED[old]}")
    assert importlib.import_module(f"harness.{old}") is moved


def test_the_family_table_lists_every_registered_algorithm():
    from harness.spec.plugins import ALGORITHMS

    table = (ROOT / "docs" / "algorithms.md").read_text()
    assert [name for name in ALGORITHMS.names() if f"| `{name}` |" not in table] == []

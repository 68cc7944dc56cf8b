"""The packages import each other in one direction only: no module imports itself back, the
server and the serving runtime never import the SDK, and the wire package imports none of
them. Read from the source with ast (imports at module level and inside functions alike)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"goldenpath": ROOT / "sdk" / "goldenpath",
            "goldenpath_api": ROOT / "sdk" / "goldenpath_api",
            "goldenpath_server": ROOT / "server" / "goldenpath_server",
            "goldenpath_serving": ROOT / "serving" / "goldenpath_serving"}


def _module_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _module_files()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:` (they never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines.update(n.lineno for stmt in node.body for n in ast.walk(stmt)
                         if isinstance(n, ast.Import | ast.ImportFrom))
    return lines


def imports_of(module: str) -> dict[str, int]:
    """The modules of ours that `module` imports (any depth in the file), with the line of
    each import."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, `level` steps up
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import name` imports the submodule pkg.name when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `import a.b.c` of a non-module attribute
                name = name.rpartition(".")[0]
            if name and name != module:
                found.setdefault(name, node.lineno)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, {})):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def _describe(cycle: list[str]) -> str:
    steps = [f"{a} (its line {GRAPH[a][b]})" for a, b in itertools.pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def test_the_walk_sees_imports_at_module_level_and_in_functions() -> None:
    # the CLI imports the SDK's facade inside its commands; the facade imports at the top
    assert "goldenpath" in GRAPH["goldenpath._cli"]
    assert "goldenpath._deploy" in GRAPH["goldenpath"]
    assert "goldenpath_api.rules" in GRAPH["goldenpath._client"]
    # and the cycle finder finds one when there is one
    assert find_cycle({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {}}) is None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycles(package: str) -> None:
    inside = {m: {t: line for t, line in targets.items() if t.split(".")[0] == package}
              for m, targets in GRAPH.items() if m.split(".")[0] == package}
    cycle = find_cycle(inside)
    assert cycle is None, f"import cycle in {package}: {_describe(cycle)}"


def test_no_import_cycles_across_packages() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, f"import cycle: {_describe(cycle)}"


@pytest.mark.parametrize(("package", "forbidden"), [
    ("goldenpath_server", ("goldenpath",)),
    ("goldenpath_serving", ("goldenpath",)),
    ("goldenpath_api", ("goldenpath", "goldenpath_server", "goldenpath_serving")),
])
def test_layers_import_downwards_only(package: str, forbidden: tuple[str, ...]) -> None:
    wrong = [f"{module} imports {target} ({MODULES[module].relative_to(ROOT)}:{line})"
             for module, targets in sorted(GRAPH.items()) if module.split(".")[0] == package
             for target, line in targets.items() if target.split(".")[0] in forbidden]
    assert not wrong, f"{package} must not import {' or '.join(forbidden)}:\n" + \
        "\n".join(wrong)

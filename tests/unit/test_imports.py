"""The import graph of common/ and demos/ has no circle. Every import counts, wherever it is written (top level,
inside a function, under `if TYPE_CHECKING`): a late import hides a circle from Python, not from a reader, and the
modules of a circle can be neither understood nor tested one without the other. Read from the source with `ast`:
nothing is imported, no model loads."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGES = ("common", "demos")  # the folders whose modules are checked; ovdemo.X is the repository's X
ROOT_PACKAGE = "ovdemo"


def module_files() -> dict[str, Path]:
    """Module name (as the repository spells it: common.engine.inference, demos for demos/__init__.py) -> its
    file."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that the module `name` (at `path`) imports, by any kind of import statement."""
    is_package = path.stem == "__init__"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node.module, node.level, package)
            if base is None:
                continue
            # `from X import y` imports module X.y when y is one, else takes a name from X
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(t for t in (own_name(t) for t in targets) if t in known)
    return found


def absolute(module: str | None, level: int, package: str) -> str | None:
    """The dotted name an ImportFrom refers to, relative imports resolved against `package`."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[:len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else [])) or ROOT_PACKAGE


def own_name(dotted: str) -> str:
    """ovdemo.common.x -> common.x: the installed package's name for a module of this repository."""
    return dotted.removeprefix(f"{ROOT_PACKAGE}.")


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: imported_modules(name, path, known) for name, path in files.items()}


def tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components that hold a circle (Tarjan's algorithm): modules each reachable from
    every other by imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle, in import order, per tangle."""
    return [circle_in(graph, component) for component in tangles(graph)]


def describe(graph: dict[str, set[str]], component: set[str]) -> str:
    circle = circle_in(graph, component)
    rest = sorted(component - set(circle))
    return " -> ".join(circle) + (f"  (tangled with it: {', '.join(rest)})" if rest else "")


def circle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest circle through the component's first module (by name), staying inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{sorted(component)} is strongly connected but has no circle through {start}")


def test_the_graph_sees_every_kind_of_import():
    """The parser is what the no-circle test rests on: it must see the imports the code base writes."""
    graph = import_graph()
    assert "common.errors" in graph["common.engine.inference"]  # relative, top level
    assert "common.engine.inference" in graph["demos.action.decoders"]  # ovdemo.-absolute
    assert "common.models.catalog" in graph["common.models.catalog_cli"]  # from . import module
    assert "common.models.info" in graph["common.models.catalog_cli"]  # inside a function
    assert "demos" in graph["common.models.info"]  # a name from a package's __init__
    assert "demos.detect.family" in graph["demos"]  # a package's __init__ importing its modules


def test_cycles_finds_a_circle_in_order():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(cycles(graph)) == [["a", "b", "c", "a"], ["e", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    tangle = {"a": {"b", "c"}, "b": {"a"}, "c": {"a"}}
    assert describe(tangle, tangles(tangle)[0]) == "a -> b -> a  (tangled with it: c)"


def test_no_import_circle():
    graph = import_graph()
    found = tangles(graph)
    assert not found, "import circles (each module imports the next):\n" + "\n".join(
        "  " + describe(graph, component) for component in found)

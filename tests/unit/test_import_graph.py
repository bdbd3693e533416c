"""No import circle among the service's modules: every import counts, also those only for type checking
or inside a function, since each one is a dependency a reader has to follow."""

from __future__ import annotations

import ast
from pathlib import Path

import arraylake.server

SERVER = Path(arraylake.server.__file__).parent
PREFIX = "arraylake.server"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SERVER).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PREFIX, *parts))


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def import_graph() -> dict[str, set[str]]:
    """Each server module -> the server modules it imports."""
    paths = {_module_name(p): p for p in SERVER.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = _package_of(module, path)
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            imported.update(name for name in names if name in paths and name != module)
        graph[module] = imported
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_among_server_modules() -> None:
    graph = import_graph()
    assert f"{PREFIX}.catalog_cache" in graph and f"{PREFIX}.repos.records" in graph
    circles = cycles(graph)
    described = [" / ".join(f"{m} -> {sorted(graph[m] & set(circle))}" for m in circle) for circle in circles]
    assert circles == [], f"import circles: {described}"


def test_the_catalog_cache_knows_no_domain() -> None:
    allowed = {PREFIX, f"{PREFIX}.metrics", f"{PREFIX}.single_flight"}
    assert import_graph()[f"{PREFIX}.catalog_cache"] <= allowed

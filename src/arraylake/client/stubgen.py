"""Write ``sync_client.pyi``, the type stub of :class:`Client`: ``python -m arraylake.client.stubgen``.

:class:`Client`'s methods are made from :class:`AsyncClient`'s coroutines when the class is created, which
type checkers and editors do not run. The stub spells the same surface out for them: one ``def`` per public
method of the runtime ``Client``, with the parameters, defaults and (awaited) return type of the
``AsyncClient`` method it runs, written as in the source, and the imports those annotations need. Run it
again after changing a public method of ``AsyncClient``; a unit test compares the stub with this output.

Development only: nothing imports this module at run time.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import sys
from pathlib import Path
from typing import Any

STUB_PATH = Path(__file__).with_name("sync_client.pyi")
REGENERATE = "python -m arraylake.client.stubgen"
LINE_LENGTH = 110
INDENT = "    "
FUNCTION_DEF = ast.FunctionDef | ast.AsyncFunctionDef


class _Imports:
    """The imports a stub needs, resolved through the imports of the modules the annotations come from."""

    def __init__(self) -> None:
        self.plain: set[tuple[str, str]] = set()  # (module, alias)
        self.names: dict[str, set[tuple[str, str]]] = {}  # module -> {(name, alias)}
        self._bound: dict[str, tuple[str, ...]] = {}
        self._scopes: dict[str, dict[str, tuple[str, ...]]] = {}

    def need(self, node: ast.AST | None, module: str) -> None:
        """Import every name ``node`` (an annotation or a default) uses, as ``module`` sees it."""
        if node is None:
            return
        scope = self._scope(module)
        for name in sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)}):
            origin = scope.get(name)
            if origin is None:
                if hasattr(builtins, name):
                    continue
                raise LookupError(f"{module} uses {name!r} in a signature but neither imports nor defines it")
            if self._bound.setdefault(name, origin) != origin:
                raise LookupError(f"{name!r} means {self._bound[name]} and {origin} in the stub's sources")
            if origin[0] == "import":
                self.plain.add((origin[1], name))
            else:
                self.names.setdefault(origin[1], set()).add((origin[2], name))

    def _scope(self, module: str) -> dict[str, tuple[str, ...]]:
        """Name -> where it comes from, for a module's top level as type checkers see it."""
        if module not in self._scopes:
            tree = ast.parse(inspect.getsource(sys.modules[module]))
            package = module if module.endswith("__init__") else module.rpartition(".")[0]
            scope: dict[str, tuple[str, ...]] = {}
            statements = list(tree.body)
            while statements:
                node = statements.pop(0)
                if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
                    statements[:0] = node.body  # what type checkers see; never the run-time else
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        local = alias.asname or alias.name.partition(".")[0]
                        scope[local] = ("import", alias.name if alias.asname else local)
                elif isinstance(node, ast.ImportFrom):
                    source = node.module or ""
                    if node.level:
                        base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                        source = f"{base}.{source}" if source else base
                    for alias in node.names:
                        scope[alias.asname or alias.name] = ("from", source, alias.name)
                elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef | ast.TypeAlias):
                    name = node.name if not isinstance(node, ast.TypeAlias) else node.name.id
                    scope[name] = ("from", module, name)
                elif isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Name):
                            scope[target.id] = ("from", module, target.id)
            self._scopes[module] = scope
        return self._scopes[module]

    def render(self) -> list[str]:
        """The import block, sorted and grouped as the project's linter wants it."""
        sections: dict[int, list[tuple[str, str]]] = {0: [], 1: [], 2: []}
        for module, alias in self.plain:
            line = f"import {module}" if module == alias else f"import {module} as {alias}"
            sections[_section(module)].append(("0" + module, line))
        for module, names in self.names.items():
            parts = [name if name == alias else f"{name} as {alias}" for name, alias in names]
            parts.sort(key=_member_order)
            line = f"from {module} import {', '.join(parts)}"
            if len(line) > LINE_LENGTH:
                line = "\n".join([f"from {module} import (", *(f"{INDENT}{p}," for p in parts), ")"])
            sections[_section(module)].append(("1" + module, line))
        lines: list[str] = []
        for _, section in sorted(sections.items()):
            if section:
                lines += [line for _, line in sorted(section)] + [""]
        return lines


def _section(module: str) -> int:
    top = module.partition(".")[0]
    if top == "arraylake":
        return 2
    return 0 if top in sys.stdlib_module_names else 1


def _member_order(name: str) -> tuple[int, str]:
    """Constants, then classes, then the rest, each case-sensitively (the linter's import order)."""
    bare = name.partition(" ")[0]
    if bare.isupper() and len(bare) > 1:
        return (0, bare)
    return (1, bare) if bare[:1].isupper() else (2, bare)


def _summary(doc: str | None) -> list[str]:
    """The first paragraph of a docstring, as a docstring of its own, its lines as in the source."""
    lines = (doc or "").strip().split("\n\n")[0].splitlines()
    text = "\n".join(lines)
    if not lines or '"""' in text or "\\" in text or text.endswith('"'):
        return []
    lines[0] = '"""' + lines[0]
    lines[-1] += '"""'
    return lines


def _source(node: ast.expr) -> str:
    """Source text of an expression, with the formatter's double quotes for a plain string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and '"' not in node.value:
        return '"' + repr(node.value)[1:-1] + '"'
    return ast.unparse(node)


def _definition(function: Any) -> tuple[FUNCTION_DEF, str]:
    """The ``def`` of a function (method) in its module's source, and that module's name."""
    function = inspect.unwrap(function)
    module = function.__module__
    body: list[ast.stmt] = ast.parse(inspect.getsource(sys.modules[module])).body
    *classes, name = function.__qualname__.split(".")
    for class_name in classes:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == class_name).body
    found = [n for n in body if isinstance(n, FUNCTION_DEF) and n.name == name]
    return found[-1], module


def _parameters(args: ast.arguments, imports: _Imports, module: str) -> list[str]:
    def one(arg: ast.arg, default: ast.expr | None, prefix: str = "") -> str:
        imports.need(arg.annotation, module)
        imports.need(default, module)
        text = prefix + arg.arg
        if arg.annotation is not None:
            text += f": {ast.unparse(arg.annotation)}"
        if default is not None:
            text += f" = {_source(default)}" if arg.annotation is not None else f"={_source(default)}"
        return text

    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    out = [one(arg, default) for arg, default in zip(positional, defaults, strict=True)]
    if args.posonlyargs:
        out.insert(len(args.posonlyargs), "/")
    if args.vararg is not None:
        out.append(one(args.vararg, None, "*"))
    elif args.kwonlyargs:
        out.append("*")
    out += [one(arg, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg is not None:
        out.append(one(args.kwarg, None, "**"))
    return out


def _method(name: str, definition: FUNCTION_DEF, module: str, doc: str | None, imports: _Imports) -> str:
    """One method of the stub, laid out as the formatter lays out a stub."""
    parameters = _parameters(definition.args, imports, module)
    imports.need(definition.returns, module)
    returns = ast.unparse(definition.returns) if definition.returns is not None else "None"
    head, tail = f"{INDENT}def {name}(", f") -> {returns}:"
    body = " ..."
    summary = _summary(doc)
    if summary:
        body = "\n" + "\n".join(INDENT * 2 + line for line in summary)
    if len(head + ", ".join(parameters) + tail + body.partition("\n")[0]) <= LINE_LENGTH:
        return head + ", ".join(parameters) + tail + body
    if len(INDENT * 2 + ", ".join(parameters)) <= LINE_LENGTH:
        return f"{head}\n{INDENT * 2}{', '.join(parameters)}\n{INDENT}{tail}{body}"
    lines = [head, *(f"{INDENT * 2}{p}," for p in parameters), f"{INDENT}{tail}{body}"]
    return "\n".join(lines)


def render() -> str:
    """The text of ``sync_client.pyi`` for the ``Client`` and ``AsyncClient`` of this checkout."""
    from arraylake.client.async_client import AsyncClient
    from arraylake.client.sync_client import Client

    imports = _Imports()
    module = Client.__module__
    class_def = next(
        n
        for n in ast.parse(inspect.getsource(sys.modules[module])).body
        if isinstance(n, ast.ClassDef) and n.name == Client.__name__
    )
    attributes = []
    for node in class_def.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is None:
            imports.need(node.annotation, module)
            attributes.append(f"{INDENT}{node.target.id}: {ast.unparse(node.annotation)}")
    written = {n.name: n for n in class_def.body if isinstance(n, FUNCTION_DEF)}
    methods = [_method(name, written[name], module, None, imports) for name in ("__init__", "__repr__")]
    for name, member in inspect.getmembers(Client, callable):
        if name.startswith("_") or isinstance(member, type):
            continue
        if name in written or not hasattr(AsyncClient, name):
            definition, source = written[name], module  # written out (``get_services`` returns its own type)
        else:
            definition, source = _definition(getattr(AsyncClient, name))
        methods.append(_method(name, definition, source, inspect.getdoc(member), imports))

    lines = [
        f'"""Type stub of ``{module}``: do not edit, run ``{REGENERATE}``.',
        "",
        "``Client`` makes its methods from ``AsyncClient``'s coroutines when the class is created; this stub",
        "shows them to type checkers and editors, which do not run that code.",
        '"""',
        "",
        *imports.render(),
        f"class {Client.__name__}:",
        *(INDENT + line for line in _summary(inspect.getdoc(Client))),
        "",
        *attributes,
        *methods,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    text = render()
    if STUB_PATH.exists() and STUB_PATH.read_text() == text:
        print(f"{STUB_PATH.name} is up to date")
        return
    STUB_PATH.write_text(text)
    print(f"wrote {STUB_PATH.name}")


if __name__ == "__main__":
    main()

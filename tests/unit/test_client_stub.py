"""``sync_client.pyi``, what type checkers and editors know of ``Client``, matches the runtime ``Client``.

``Client``'s methods are generated from ``AsyncClient``'s coroutines when the class is created; the stub is
written from the same classes. A coroutine added to ``AsyncClient`` (or a changed signature) without
writing the stub again fails here.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from arraylake import Client
from arraylake.client import stubgen

STUB = stubgen.STUB_PATH


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_") and not isinstance(member, type)
    }


def stub_methods() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(STUB.read_text(), str(STUB))
    (client,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Client"]
    return {n.name: n for n in client.body if isinstance(n, ast.FunctionDef)}


def test_the_stub_is_up_to_date() -> None:
    assert STUB.read_text() == stubgen.render(), (
        f"{STUB.name} is out of date with Client/AsyncClient: run `{stubgen.REGENERATE}` and commit it"
    )


def test_every_client_method_is_in_the_stub() -> None:
    methods = stub_methods()
    missing = set(public_methods(Client)) - set(methods)
    assert not missing, f"Client methods the stub lacks: {sorted(missing)}; run `{stubgen.REGENERATE}`"
    extra = {name for name in methods if not name.startswith("_")} - set(public_methods(Client))
    assert not extra, f"stub methods Client lacks: {sorted(extra)}; run `{stubgen.REGENERATE}`"
    assert {"__init__", "__repr__"} <= set(methods)


def test_stub_parameters_are_the_runtime_ones() -> None:
    kinds = inspect.Parameter
    for name, definition in stub_methods().items():
        args = definition.args
        stub = [(a.arg, kinds.POSITIONAL_ONLY) for a in args.posonlyargs]
        stub += [(a.arg, kinds.POSITIONAL_OR_KEYWORD) for a in args.args]
        stub += [(args.vararg.arg, kinds.VAR_POSITIONAL)] if args.vararg else []
        stub += [(a.arg, kinds.KEYWORD_ONLY) for a in args.kwonlyargs]
        stub += [(args.kwarg.arg, kinds.VAR_KEYWORD)] if args.kwarg else []
        runtime = [(p.name, p.kind) for p in inspect.signature(getattr(Client, name)).parameters.values()]
        assert stub == runtime, f"Client.{name}: run `{stubgen.REGENERATE}`"


def test_stub_returns_what_the_method_returns_not_a_coroutine() -> None:
    for name, definition in stub_methods().items():
        returns = ast.unparse(definition.returns) if definition.returns else ""
        assert "Coroutine" not in returns and "Awaitable" not in returns, name
        if not name.startswith("_"):
            assert returns == inspect.signature(getattr(Client, name)).return_annotation, name


def test_the_package_is_marked_typed() -> None:
    # Without the marker, type checkers ignore the installed package's annotations and this stub.
    assert (STUB.parents[1] / "py.typed").is_file()

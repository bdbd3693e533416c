"""``Client`` and ``AsyncClient`` offer the same methods with the same signatures.

The synchronous facade is generated from the async core, with a few methods written out; this keeps them
from drifting apart when a method is added, renamed or given a new parameter on one side only.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from arraylake import AsyncClient, Client

ASYNC_ONLY = {
    "aclose": "closes the connections of the caller's event loop; Client's run on its own background loop",
    "get_repo_blocking": "the loop-free path Client.get_repo takes; on Client, get_repo itself is blocking",
}
SYNC_ONLY: dict[str, str] = {}
SYNC_TWINS = {"get_services": ("AsyncComputeClient", "ComputeClient")}
"""Methods that return an async object on ``AsyncClient`` and its synchronous twin on ``Client``."""


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_") and not isinstance(member, type)
    }


def parameters(method: Any) -> list[tuple[str, Any, Any]]:
    """Name, kind and default of every parameter (annotations differ only in the return type)."""
    signature = inspect.signature(method)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_the_exception_lists_name_real_methods() -> None:
    assert set(ASYNC_ONLY) <= set(public_methods(AsyncClient))
    assert not set(ASYNC_ONLY) & set(public_methods(Client))
    assert set(SYNC_ONLY) <= set(public_methods(Client))
    assert not set(SYNC_ONLY) & set(public_methods(AsyncClient))


def test_every_async_coroutine_is_a_client_method() -> None:
    coroutines = {
        name for name, member in public_methods(AsyncClient).items() if inspect.iscoroutinefunction(member)
    }
    assert len(coroutines) > 30
    missing = coroutines - set(public_methods(Client)) - set(ASYNC_ONLY)
    assert not missing, f"AsyncClient coroutines without a Client method: {sorted(missing)}"


def test_every_client_method_is_an_async_client_method() -> None:
    extra = set(public_methods(Client)) - set(public_methods(AsyncClient)) - set(SYNC_ONLY)
    assert not extra, f"Client methods without an AsyncClient counterpart: {sorted(extra)}"


def test_client_methods_are_synchronous() -> None:
    asynchronous = [
        name for name, member in public_methods(Client).items() if inspect.iscoroutinefunction(member)
    ]
    assert not asynchronous


@pytest.mark.parametrize(
    "name", sorted((set(public_methods(AsyncClient)) & set(public_methods(Client))) | {"__init__"})
)
def test_same_signature(name: str) -> None:
    assert parameters(getattr(Client, name)) == parameters(getattr(AsyncClient, name))


@pytest.mark.parametrize("name", sorted(set(public_methods(AsyncClient)) & set(public_methods(Client))))
def test_same_return_annotation_and_documentation(name: str) -> None:
    sync, core = getattr(Client, name), getattr(AsyncClient, name)
    returns = (inspect.signature(core).return_annotation, inspect.signature(sync).return_annotation)
    assert returns == SYNC_TWINS.get(name, (returns[0], returns[0]))
    assert inspect.getdoc(sync) == inspect.getdoc(core)

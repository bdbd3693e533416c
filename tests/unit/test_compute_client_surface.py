"""``ComputeClient`` offers ``AsyncComputeClient``'s methods with the same signatures and documentation, run
to completion (``stream_logs`` as an iterator of lines instead of an async one)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from arraylake.compute import AsyncComputeClient, ComputeClient

ASYNC_ONLY = {"to_sync_client"}


def public_methods(cls: type) -> dict[str, Any]:
    return {name: m for name, m in inspect.getmembers(cls, callable) if not name.startswith("_")}


def test_the_same_methods() -> None:
    assert set(public_methods(ComputeClient)) == set(public_methods(AsyncComputeClient)) - ASYNC_ONLY


@pytest.mark.parametrize("name", sorted(set(public_methods(AsyncComputeClient)) - ASYNC_ONLY))
def test_same_signature_and_documentation(name: str) -> None:
    sync, core = getattr(ComputeClient, name), getattr(AsyncComputeClient, name)
    assert list(inspect.signature(sync).parameters.values()) == list(
        inspect.signature(core).parameters.values()
    )
    assert inspect.getdoc(sync) == inspect.getdoc(core) and inspect.getdoc(sync)
    assert not inspect.iscoroutinefunction(sync) and not inspect.isasyncgenfunction(sync)
    if name == "stream_logs":
        assert inspect.isasyncgenfunction(core) and inspect.isgeneratorfunction(sync)
    else:
        assert inspect.iscoroutinefunction(core)
        assert inspect.signature(sync).return_annotation == inspect.signature(core).return_annotation

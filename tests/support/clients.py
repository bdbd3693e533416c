"""Drive the sync ``Client`` and the ``AsyncClient`` through one async interface, so one scenario
exercises both for real."""

from __future__ import annotations

import asyncio
from typing import Any

from arraylake import AsyncClient, Client


class SyncAsAsync:
    """Calls the synchronous ``Client`` in a worker thread, so it runs exactly as in user code."""

    def __init__(self, client: Client):
        self.client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


def make_client(mode: str, url: str, token: str) -> Any:
    """An object with the client's methods as coroutines: the AsyncClient itself, or the Client wrapped."""
    if mode == "async":
        return AsyncClient(url, token=token)
    return SyncAsAsync(Client(url, token=token))

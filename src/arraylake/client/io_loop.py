"""Run the async core from synchronous code.

Coroutines run on one event loop in a daemon thread of this process, so the synchronous ``Client`` works the
same in a script, inside Jupyter's already-running loop, and in Dask workers (a forked child gets a new
thread).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_owner_pid: int | None = None


def io_loop() -> asyncio.AbstractEventLoop:
    """The background loop of this process, started on first use."""
    global _loop, _owner_pid
    with _lock:
        if _loop is None or _owner_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="arraylake-io", daemon=True)
            thread.start()
            _loop, _owner_pid = loop, os.getpid()
        return _loop


def run_sync[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result."""
    loop = io_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError(
            "the synchronous Client was called from inside its own IO loop; use AsyncClient there"
        )
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def blocking[**P, R](
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Any, P], R]:
    """The synchronous twin of an ``AsyncClient`` method, for the ``Client`` facade.

    Keeps the method's name, docstring and signature (``help()`` and IDEs show them).
    """

    @functools.wraps(method)
    def call(self: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        return run_sync(method(self.aclient, *args, **kwargs))

    return call

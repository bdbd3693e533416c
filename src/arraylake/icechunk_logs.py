"""Icechunk's log filter, and the one warning of Icechunk that the client keeps out of normal output.

Each time a directory storage is built, Icechunk logs (on stderr, from Rust, not as a Python warning)
that local filesystem storage is not safe for concurrent commits. For a ``local`` bucket that is known
and documented once, in the README, instead of on every open: while the client builds such a storage it
raises the level of that one log target to ``error``, and then puts the filter back.

Only the client's own choice of filter can be put back (Icechunk cannot be asked for its current one):
set ``ICECHUNK_LOG``, or call :func:`set_logs_filter` here, and the client leaves the filter alone or
restores yours. With ``ICECHUNK_LOG`` set, nothing is hidden.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LOCAL_STORAGE_TARGET = "icechunk_arrow_object_store"
_DEFAULT = "warn"  # Icechunk's own default without ICECHUNK_LOG

_lock = threading.Lock()
_directive: str | None = None  # None: Icechunk reads ICECHUNK_LOG


def set_logs_filter(directive: str | None) -> None:
    """``icechunk.set_logs_filter``, remembered so that the client can restore it."""
    import icechunk

    global _directive
    with _lock:
        _directive = directive
        icechunk.set_logs_filter(directive)


@contextmanager
def quiet_local_storage() -> Iterator[None]:
    """Hide the concurrency warning of a directory storage built inside this block."""
    chosen = _directive if _directive is not None else os.environ.get("ICECHUNK_LOG")
    if chosen is not None and (_directive is None or LOCAL_STORAGE_TARGET in chosen):
        yield  # the user chose what to see
        return
    import icechunk

    with _lock:
        icechunk.set_logs_filter(f"{chosen or _DEFAULT},{LOCAL_STORAGE_TARGET}=error")
        try:
            yield
        finally:
            icechunk.set_logs_filter(_directive)

"""Telling a database that is unreachable (retry later: 503) from a failing query (a bug: 500)."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLSTATE classes: 08 connection exception; 57P0x operator intervention (shutdown, starting up).
_UNAVAILABLE_SQLSTATES = ("08", "57P")


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the catalog database cannot be reached right now."""
    if isinstance(error, ConnectionError | TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    for cause in (error.orig, getattr(error.orig, "__cause__", None)):
        if cause is None:
            continue
        state = str(getattr(cause, "sqlstate", "") or "")
        if state.startswith(_UNAVAILABLE_SQLSTATES) or "Connection" in type(cause).__name__:
            return True
    return False

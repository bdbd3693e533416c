"""Repo maintenance: the expiration and garbage-collection policy of a repo (and its org's default), runs on
demand (or dry), and the history of runs.

These are methods of :class:`arraylake.AsyncClient` (and, synchronously, :class:`arraylake.Client`).
"""

from __future__ import annotations

from arraylake.client.transport import Transport


class MaintenanceMethods:
    """Maintenance policies and runs, on top of the client's transport."""

    _transport: Transport

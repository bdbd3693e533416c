"""Reading the audit log: an org's entries for its admins, everything (and verification) for operators.

These are methods of :class:`arraylake.AsyncClient` (and, synchronously, :class:`arraylake.Client`).
"""

from __future__ import annotations

from arraylake.client.transport import Transport


class AuditMethods:
    """The audit log, on top of the client's transport."""

    _transport: Transport

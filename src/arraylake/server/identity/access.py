"""Old home of the member lookups, which live in :mod:`arraylake.server.orgs.members` now.

Goes once ``repos/grants.py`` imports them from there.
"""

from arraylake.server.orgs.members import principal_for_email, resolve_principal

__all__ = ["principal_for_email", "resolve_principal"]

"""Named crash points, for tests that prove recovery after a process dies mid-operation.

When the ``fault_injection`` setting names a point, the process exits at once (no cleanup, like SIGKILL)
when it reaches that point. Unset in production, where :func:`crash_point` does nothing.
"""

from __future__ import annotations

import os
import sys

from arraylake.server.settings import ServerSettings

DELETE_AFTER_FIRST_BATCH = "delete:after-first-batch"
CREATE_AFTER_RESERVE = "create:after-reserve"
KNOWN_POINTS = frozenset({DELETE_AFTER_FIRST_BATCH, CREATE_AFTER_RESERVE})


def crash_point(settings: ServerSettings, name: str) -> None:
    if settings.fault_injection == name:
        sys.stderr.write(f"fault injection: exiting at {name}\n")
        sys.stderr.flush()
        os._exit(70)

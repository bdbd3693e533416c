"""The service's own files and directories, created readable by the service's OS user only.

The catalog holds token hashes and sealed secrets, and local buckets hold every org's data; nobody else on
the machine has any business reading them. Modes are set explicitly, whatever the process umask.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700; directories that exist keep their mode."""
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for created in missing:
        # mkdir's mode passes through the umask, and parents made on the way get the default mode.
        os.chmod(created, PRIVATE_DIR)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600, unless it exists (its mode is the operator's) or its directory
    does not (whoever opens it reports that)."""
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))

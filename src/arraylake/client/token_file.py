"""Where a login's tokens live on disk, readable by their owner only.

``service.token_path`` if configured; else ``~/.arraylake/tokens/<host[_port]>.json``, one file per service
(``~/.arraylake/token.json`` for the hosted service, as its client does).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from arraylake.config import config
from arraylake.types import OAuthTokens

HOSTED_SERVICE = "https://api.earthmover.io"


def token_path(service_uri: str) -> Path:
    configured = config.get("service.token_path", None)
    if configured:
        return Path(configured).expanduser()
    base = Path.home() / ".arraylake"
    if service_uri.rstrip("/") == HOSTED_SERVICE:
        return base / "token.json"
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", urlsplit(service_uri).netloc)
    return base / "tokens" / f"{slug}.json"


def read_tokens(path: Path) -> OAuthTokens | None:
    """The saved tokens, or ``None`` when there are none (or the file is unreadable)."""
    try:
        return OAuthTokens.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def write_tokens(path: Path, tokens: OAuthTokens) -> None:
    """Save atomically, mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tokens-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(tokens.model_dump_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def delete_tokens(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False

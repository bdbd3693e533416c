"""Validated path parameters shared by the routers (async: plain functions would run in a thread pool)."""

from __future__ import annotations

from fastapi import Path

from arraylake.exceptions import InvalidNameError
from arraylake.names import validate_org_name, validate_repo_name
from arraylake.server.errors import InvalidInput


async def org_name(org: str = Path(description="Name of the org")) -> str:
    try:
        return validate_org_name(org)
    except InvalidNameError as exc:
        raise InvalidInput(str(exc)) from exc


async def repo_name(repo: str = Path(description="Name of the repo")) -> str:
    try:
        return validate_repo_name(repo)
    except InvalidNameError as exc:
        raise InvalidInput(str(exc)) from exc

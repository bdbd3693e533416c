"""Maintenance endpoints: a repo's policy and runs, and an org's default policy."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["maintenance"])

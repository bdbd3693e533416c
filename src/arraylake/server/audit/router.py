"""The audit log's endpoints: org admins read their org's entries; service operators read and verify all."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["audit"])

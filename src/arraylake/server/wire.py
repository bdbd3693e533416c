"""Answering with wire models without FastAPI re-validating them (the hot paths build them already valid)."""

from __future__ import annotations

from fastapi.responses import Response
from pydantic import BaseModel

JSON = "application/json"


def wire_json(model: BaseModel, status_code: int = 200) -> Response:
    """The model as its wire JSON (aliases, UTC datetimes, secrets as the wire carries them)."""
    return Response(model.model_dump_json(by_alias=True), status_code=status_code, media_type=JSON)

"""`/healthz`: whether this process can reach its database (for the proxy and the container
orchestrator; no session, no data)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """200 when a `SELECT 1` answers, else 503; never cached."""
    headers = {"Cache-Control": "no-store"}
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable"}, status_code=503, headers=headers)
    return JSONResponse({"status": "ok"}, headers=headers)

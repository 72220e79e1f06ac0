"""`/healthz` (the process answers) and `/readyz` (the store answers too)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    ready = await request.app.state.pipeline.store.ping()
    return JSONResponse({"status": "ready" if ready else "store unavailable"}, 200 if ready else 503)

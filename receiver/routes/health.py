"""`/healthz` (the process answers) and `/readyz` (the store answers too, and how the processing worker is)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the store answers: then every callback is captured. A processing worker that is down (being
    restarted) delays processing, not capture, so it is reported but does not make the receiver unready."""
    ready = await request.app.state.pipeline.store.ping()
    body: dict[str, object] = {"status": "ready" if ready else "store unavailable"}
    worker = request.app.state.worker
    if worker is not None:
        body.update(worker_pid=worker.pid, worker_alive=worker.alive, worker_restarts=worker.restarts)
    return JSONResponse(body, 200 if ready else 503)

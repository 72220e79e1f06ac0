"""The emulator as a Starlette app: the providers' own APIs at their own paths, plus a control API.

Provider surfaces:
- `GET|POST /v2/index.php` Tencent VOD legacy (API 2.0 signature);
- `POST|GET /` Tencent API 3.0 (VOD 3.0 and MPS; TC3) or Alibaba RPC (v1 or ACS3), told apart by headers.
Control API (`/_emulator/...`): tasks (create, list, get, advance, per-task faults), clock, ledger, faults,
settle (wait for callbacks in flight), ca.pem, config.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.emulator.apis import aliyun, tc3, tencent_mps, tencent_v2, tencent_v3
from receiver.emulator.config import Dialect, EmulatorConfig
from receiver.emulator.engine import Emulator
from receiver.emulator.faults import FaultSpec
from receiver.emulator.scenario import Scenario
from receiver.emulator.simulation import TaskRequest, TaskStatus
from receiver.emulator.tls import TlsMaterial

TC3_HANDLERS: dict[Dialect, dict[str, tc3.Handler]] = {
    Dialect.TENCENT_VOD_V3: tencent_v3.HANDLERS,
    Dialect.TENCENT_MPS: tencent_mps.HANDLERS,
}


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: TaskStatus | None = None


class ClockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance_s: float | None = Field(None, ge=0)
    set: datetime | None = None
    time_scale: float | None = Field(None, ge=0)


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(30.0, ge=0, le=600)


def _problem(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _errors(exc: ValidationError) -> list[Any]:
    return list(exc.errors(include_url=False, include_input=False, include_context=False))


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    return await request.json()


def create_emulator_app(
    config: EmulatorConfig | None = None, tls: TlsMaterial | None = None, scenario: Scenario | None = None
) -> Starlette:
    """Build the emulator. Its state is `app.state.emulator`; it starts (clock ticker, HTTP client, the
    scenario's schedule) with the app's lifespan, so run it under an ASGI server that runs lifespans."""
    if scenario is not None:
        config = scenario.configure(config or EmulatorConfig())
    emu = Emulator(config or EmulatorConfig())

    async def root(request: Request) -> Response:
        if tc3.is_tc3(request):
            return await tc3.handle(request, emu, TC3_HANDLERS)
        if aliyun.is_aliyun(request):
            return await aliyun.handle(request, emu)
        return _problem(404, "not a provider API request: expected TC3 (X-TC-Action) or Alibaba RPC (Action=)")

    async def legacy(request: Request) -> Response:
        return await tencent_v2.handle(request, emu)

    async def create_task(request: Request) -> Response:
        try:
            task_request = TaskRequest.model_validate(await _json(request))
            task = emu.create_task(task_request)
        except ValidationError as exc:
            return _problem(400, "invalid task request", details=_errors(exc))
        except ValueError as exc:
            return _problem(400, str(exc))
        return JSONResponse(task.summary(), status_code=201)

    async def list_tasks(request: Request) -> Response:
        emu.tick()
        dialect = request.query_params.get("dialect")
        try:
            chosen = Dialect(dialect) if dialect else None
        except ValueError:
            return _problem(400, f"unknown dialect {dialect!r}; known: {[d.value for d in Dialect]}")
        return JSONResponse({"tasks": [t.summary() for t in emu.sim.tasks(chosen)]})

    async def get_task(request: Request) -> Response:
        emu.tick()
        task = emu.sim.get(request.path_params["task_id"])
        if task is None:
            return _problem(404, f"no task {request.path_params['task_id']!r}")
        return JSONResponse(task.summary())

    async def advance_task(request: Request) -> Response:
        try:
            body = AdvanceRequest.model_validate(await _json(request))
            task = emu.advance(request.path_params["task_id"], body.to)
        except ValidationError as exc:
            return _problem(400, "invalid advance request", details=_errors(exc))
        except KeyError:
            return _problem(404, f"no task {request.path_params['task_id']!r}")
        return JSONResponse(task.summary())

    async def task_faults(request: Request) -> Response:
        task = emu.sim.get(request.path_params["task_id"])
        if task is None:
            return _problem(404, f"no task {request.path_params['task_id']!r}")
        if request.method == "POST":
            try:
                task.faults = FaultSpec.model_validate(await _json(request))
            except ValidationError as exc:
                return _problem(400, "invalid fault spec", details=_errors(exc))
        return JSONResponse((task.faults or emu.faults).model_dump(mode="json"))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = ClockRequest.model_validate(await _json(request))
                if body.time_scale is not None:
                    emu.clock.set_scale(body.time_scale)
                if body.set is not None:
                    emu.move_clock(to=body.set)
                elif body.advance_s is not None:
                    emu.move_clock(advance_s=body.advance_s)
            except ValidationError as exc:
                return _problem(400, "invalid clock request", details=_errors(exc))
            except ValueError as exc:
                return _problem(400, str(exc))
        emu.tick()
        return JSONResponse({"now": emu.clock.now().isoformat(), "time_scale": emu.clock.scale})

    async def ledger(request: Request) -> Response:
        emu.tick()
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return _problem(400, f"since={request.query_params.get('since')!r} is not an integer")
        entries = emu.ledger.entries(since, request.query_params.get("kind"), request.query_params.get("task_id"))
        return JSONResponse(
            {
                "now": emu.clock.now().isoformat(),
                "summary": {**emu.ledger.summary(), "running": emu.delivery.in_flight},
                "entries": [e.model_dump(mode="json") for e in entries],
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                emu.faults = FaultSpec.model_validate(await _json(request))
            except ValidationError as exc:
                return _problem(400, "invalid fault spec", details=_errors(exc))
        return JSONResponse(emu.faults.model_dump(mode="json"))

    async def settle(request: Request) -> Response:
        try:
            body = SettleRequest.model_validate(await _json(request))
        except ValidationError as exc:
            return _problem(400, "invalid settle request", details=_errors(exc))
        emu.tick()
        settled = await emu.delivery.settle(body.timeout_s)
        return JSONResponse({"settled": settled, "summary": emu.ledger.summary(), "running": emu.delivery.in_flight})

    async def ca_pem(request: Request) -> Response:
        if tls is None:
            return _problem(404, "TLS is off: start the emulator with --tls to get a CA")
        return Response(tls.ca_pem, media_type="application/x-pem-file")

    async def show_config(request: Request) -> Response:
        return JSONResponse(
            {
                "secret_ids": [c.secret_id for c in emu.config.credentials],
                "seed": emu.config.seed,
                "time_scale": emu.clock.scale,
                "tls": tls is not None,
                "dialects": {
                    d.value: emu.dialect_config(d).model_dump(mode="json", exclude={"callback_key"}) for d in Dialect
                },
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emu.start()
        if scenario is not None:
            scenario.schedule(emu)
            emu.tick()
        try:
            yield
        finally:
            await emu.stop()

    routes = [
        Route("/", root, methods=["GET", "POST"]),
        Route("/v2/index.php", legacy, methods=["GET", "POST"]),
        Route("/_emulator/tasks", create_task, methods=["POST"]),
        Route("/_emulator/tasks", list_tasks, methods=["GET"]),
        Route("/_emulator/tasks/{task_id}", get_task, methods=["GET"]),
        Route("/_emulator/tasks/{task_id}/advance", advance_task, methods=["POST"]),
        Route("/_emulator/tasks/{task_id}/faults", task_faults, methods=["GET", "POST"]),
        Route("/_emulator/clock", clock, methods=["GET", "POST"]),
        Route("/_emulator/ledger", ledger, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST"]),
        Route("/_emulator/settle", settle, methods=["POST"]),
        Route("/_emulator/ca.pem", ca_pem, methods=["GET"]),
        Route("/_emulator/config", show_config, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = emu
    return app

"""Tencent VOD legacy API (`/v2/index.php`, API 2.0 signature): GetTaskInfo, GetProcedureInfo, GetTaskList,
PullEvent, ConfirmEvent. GET (query) and POST (form body) both work, never mixed.

Answers are HTTP 200 with `code` 0 or an error `{code, codeDesc, message}` (the real API adds `codeDesc`);
codes per the reference: 4000 invalid parameter, 4100 auth failure, 4400 over quota (rate limit), 4500 replay
(reused Nonce or stale Timestamp), 1000 invalid parameter (API-specific), 70014 task not found, 6000 internal.
The signature is checked against the Host the client called, then the canonical `vod.api.qcloud.com` (a
client that resolves the real host name to the emulator signs that one).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.emulator.apis.common import form_params, host_of, json_response, wall_now
from receiver.emulator.bodies import tencent_v2 as bodies
from receiver.emulator.config import Dialect
from receiver.emulator.engine import Emulator
from receiver.emulator.simulation import SimTask
from receiver.signing import Failure, Verified
from receiver.signing.tencent_v2 import LEGACY_HOST, LEGACY_PATH, SigningTarget, verify_params

DIALECT = Dialect.TENCENT_VOD_V2
RETENTION_S = 72 * 3600.0
TOLERANCE_S = 300.0  # 309/7025 says 5 min (213/1718 says 2 h); the stricter one
ACTIONS = ("GetTaskInfo", "GetProcedureInfo", "GetTaskList", "PullEvent", "ConfirmEvent")

#: codeDesc names (the real API sends them; the exact strings are not documented).
CODE_DESC = {
    1000: "InvalidParameter",
    4000: "InvalidParameter",
    4100: "AuthFailure",
    4400: "RequestLimitExceeded",
    4500: "ReplayAttack",
    5000: "ResourceNotFound",
    6000: "InternalError",
    70014: "TaskNotExist",
}


class LegacyError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "codeDesc": CODE_DESC.get(code, "Failure"), "message": message}


async def handle(request: Request, emu: Emulator) -> Response:
    emu.tick()
    params = await form_params(request)
    action = params.get("Action", "")
    try:
        caller = _authenticate(request, params, emu)
        if action not in ACTIONS:
            raise LegacyError(4000, f"(100003)Action {action!r} is not supported by the emulator")
        task = _task_of(params, emu) if action in ("GetTaskInfo", "GetProcedureInfo") else None
        plan = emu.query_plan(DIALECT, action, task)
        if plan.slow_answer_s:
            await asyncio.sleep(plan.slow_answer_s)
        if plan.error_5xx:
            emu.record_query(DIALECT, action, "fault:5xx", http_status=502, caller=caller)
            return json_response({"code": 6000, "message": "bad gateway"}, status=502)
        if plan.rate_limit or (
            emu.config.enforce_rate_limits and not emu.rates.allow(DIALECT, action, caller, emu.clock.now())
        ):
            raise LegacyError(4400, f"(100041){action} over quota: 100 calls per minute")
        answer = await _answer(action, params, task, emu)
    except LegacyError as error:
        emu.record_query(DIALECT, action or "?", f"error:{error.code}", caller=params.get("SecretId"))
        return json_response(error_body(error.code, error.message))
    emu.record_query(DIALECT, action, "ok", task_id=task.id if task else None, caller=caller)
    return json_response(answer)


def _authenticate(request: Request, params: dict[str, str], emu: Emulator) -> str:
    tolerance = emu.config.signature_tolerance_s or TOLERANCE_S
    verdict: Verified | None = None
    for host in dict.fromkeys((host_of(request), LEGACY_HOST)):
        target = SigningTarget(http_method=request.method, host=host, path=request.url.path or LEGACY_PATH)
        verdict = verify_params(
            params, target=target, secrets=emu.config.keyring(), now=wall_now(), tolerance_s=tolerance
        )
        if verdict.failure is not Failure.BAD_SIGNATURE:
            break
    assert verdict is not None
    if verdict.failure is Failure.MISSING:
        raise LegacyError(4000, f"(100001){verdict.detail}")
    if verdict.failure is Failure.EXPIRED:
        raise LegacyError(4500, f"(100006)Timestamp out of range: {verdict.detail}")
    if verdict.failure is not None:
        raise LegacyError(4100, f"(100005)auth failure: {verdict.detail}")
    secret_id = verdict.secret_id or params["SecretId"]
    if not emu.nonces.first_use("tencent-v2", secret_id, params["Nonce"], wall_now(), tolerance * 2):
        raise LegacyError(4500, f"(100007)Nonce {params['Nonce']} was already used")
    return secret_id


def _task_of(params: dict[str, str], emu: Emulator) -> SimTask:
    task_id = params.get("vodTaskId", "")
    if not task_id:
        raise LegacyError(1000, "invalid parameter: vodTaskId is required")
    task = emu.sim.get(task_id)
    if task is None or task.dialect is not DIALECT or not emu.retained(task, RETENTION_S):
        raise LegacyError(70014, f"task {task_id} does not exist (only tasks of the last 72 hours are kept)")
    return task


async def _answer(action: str, params: dict[str, str], task: SimTask | None, emu: Emulator) -> dict[str, Any]:
    if action == "GetTaskInfo":
        assert task is not None
        return bodies.task_info(task)
    if action == "GetProcedureInfo":
        assert task is not None
        if task.kind != "procedure":
            raise LegacyError(1000, f"task {task.id} is not a procedure (type {bodies.TASK_TYPES[task.kind]})")
        return bodies.procedure_info(task)
    if action == "GetTaskList":
        return _task_list(params, emu)
    if action == "PullEvent":
        return await _pull(emu)
    return _confirm(params, emu)


def _task_list(params: dict[str, str], emu: Emulator) -> dict[str, Any]:
    status = params.get("status", "").upper()
    if status and status not in ("WAITING", "PROCESSING", "FINISH"):
        raise LegacyError(1000, f"invalid parameter status={params['status']!r}")
    try:
        start = int(params.get("next") or 0)
        size = int(params.get("size") or 10)
    except ValueError as exc:
        raise LegacyError(1000, f"invalid parameter next/size: {exc}") from exc
    if not 1 <= size <= 100:
        raise LegacyError(1000, f"invalid parameter size={size}: must be 1..100")
    tasks = [t for t in emu.visible_tasks(DIALECT, RETENTION_S) if not status or str(t.status) == status]
    page = tasks[start : start + size]
    more = start + size < len(tasks)
    return {
        "code": 0,
        "codeDesc": "Success",
        "message": "",
        "data": {
            "next": str(start + size) if more else "",
            "status": status,
            "taskList": [bodies.list_item(t) for t in page],
        },
    }


async def _pull(emu: Emulator) -> dict[str, Any]:
    if emu.dialect_config(DIALECT).mode != "pull":
        raise LegacyError(4000, "(100003)reliable callback (PullEvent) is not enabled for this app")
    queue = emu.queues[DIALECT]
    if not queue.available(emu.clock.now()) and emu.config.pull_wait_s > 0:
        waiter = emu.pull_waiters[DIALECT]
        waiter.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), timeout=emu.config.pull_wait_s)
    items = queue.pull(emu.clock.now())
    return {
        "code": 0,
        "codeDesc": "Success",
        "message": "",
        "eventList": [{"msgHandle": item.handle, "eventContent": item.publication.notice.body} for item in items],
    }


def _confirm(params: dict[str, str], emu: Emulator) -> dict[str, Any]:
    handles = [v for k, v in sorted(params.items(), key=lambda kv: _index(kv[0])) if _is_handle_key(k)]
    if not handles:
        raise LegacyError(1000, "invalid parameter: msgHandle.n is required")
    _, refused = emu.queues[DIALECT].confirm(handles, emu.clock.now())
    if refused:
        raise LegacyError(1000, f"invalid parameter: msgHandle {refused[0]} is unknown or past its 30 s")
    return {"code": 0, "codeDesc": "Success", "message": ""}


def _is_handle_key(key: str) -> bool:
    name, _, index = key.replace("_", ".").partition(".")
    return name == "msgHandle" and index.isdigit()


def _index(key: str) -> int:
    _, _, index = key.replace("_", ".").partition(".")
    return int(index) if index.isdigit() else -1

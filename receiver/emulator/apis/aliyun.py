"""Alibaba Cloud VOD RPC API (2017-03-21): GetTranscodeTask, ListTranscodeTask, GetVideoList, SubmitTranscodeJobs.

Both signatures are checked: RPC v1 HMAC-SHA1 (`Signature` parameter; the old core SDK, and the new SDK
with `signature_algorithm='v2'`) and ACS3-HMAC-SHA256 (`Authorization` header; the new SDK's default).
The action comes from the query, the form body, or `x-acs-action`. Success answers carry
`application/json;charset=utf-8`; errors are `{RequestId, HostId, Code, Message, Recommend}` with the
HTTP status Alibaba uses (404 NoSuchResource, 400 SignatureDoesNotMatch, 400 Throttling.User, ...).
Retention: one year for transcode tasks. GetVideoList (help.aliyun.com/document_detail/52838) is the
account-wide listing: videos by CreationTime (StartTime/EndTime, SortBy, PageNo/PageSize ≤ 100, the first
5000 matches), the only way to find the VideoIds ListTranscodeTask needs when every callback was lost.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from receiver.emulator.apis.common import json_response, parse_pairs, wall_now
from receiver.emulator.bodies import aliyun as bodies
from receiver.emulator.bodies.common import iso
from receiver.emulator.config import Dialect
from receiver.emulator.engine import Emulator
from receiver.emulator.simulation import SimTask, TaskRequest
from receiver.signing import Failure, Verified
from receiver.signing.aliyun_acs3 import verify_request as verify_acs3
from receiver.signing.aliyun_rpc import DEFAULT_TOLERANCE_S
from receiver.signing.aliyun_rpc import verify_params as verify_rpc

DIALECT = Dialect.ALIYUN_VOD
RETENTION_S = 365 * 86400.0
CONTENT_TYPE = "application/json;charset=utf-8"
ACTIONS = ("GetTranscodeTask", "ListTranscodeTask", "GetVideoList", "SubmitTranscodeJobs")
VIDEO_LIST_CAP = 5000  # "returns up to the first 5000 videos matching the filter"


class PopError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def is_aliyun(request: Request) -> bool:
    auth = request.headers.get("authorization", "")
    return auth.startswith("ACS3-") or "x-acs-action" in request.headers or "Action=" in request.url.query


def error_response(error: PopError, request_id: str, host: str) -> Response:
    return json_response(
        {
            "RequestId": request_id,
            "HostId": host,
            "Code": error.code,
            "Message": error.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Vod&requestId={request_id}",
        },
        status=error.status,
        content_type=CONTENT_TYPE,
    )


async def handle(request: Request, emu: Emulator) -> Response:
    emu.tick()
    body = await request.body()
    query = parse_pairs(request.url.query)
    form = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_pairs(body.decode("utf-8", errors="replace"))
    params = {**query, **form}
    action = params.get("Action") or request.headers.get("x-acs-action", "")
    request_id = emu.request_id(DIALECT)
    host = request.headers.get("host", "vod.cn-shanghai.aliyuncs.com")
    caller = None
    task: SimTask | None = None
    try:
        caller = _authenticate(request, body, query, params, emu)
        if action not in ACTIONS:
            raise PopError(
                404,
                "InvalidAction.NotFound",
                f"Specified api is not found, please check your url and method. ({action!r})",
            )
        task = _named_task(params, emu)
        plan = emu.query_plan(DIALECT, action, task)
        if plan.slow_answer_s:
            await asyncio.sleep(plan.slow_answer_s)
        if plan.error_5xx:
            raise PopError(
                503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."
            )
        if plan.rate_limit or (
            emu.config.enforce_rate_limits and not emu.rates.allow(DIALECT, action, caller, emu.clock.now())
        ):
            raise PopError(400, "Throttling.User", "Request was denied due to user flow control.")
        answer, task = _answer(action, params, emu)
    except PopError as error:
        emu.record_query(
            DIALECT,
            action or "?",
            f"error:{error.code}",
            http_status=error.status,
            caller=caller,
            task_id=task.id if task else None,
        )
        return error_response(error, request_id, host)
    emu.record_query(DIALECT, action, "ok", task_id=task.id if task else None, caller=caller)
    return json_response({"RequestId": request_id, **answer}, content_type=CONTENT_TYPE)


def _authenticate(request: Request, body: bytes, query: dict[str, str], params: dict[str, str], emu: Emulator) -> str:
    tolerance = emu.config.signature_tolerance_s or DEFAULT_TOLERANCE_S
    secrets = emu.config.keyring()
    verdict: Verified
    if "Signature" in params:
        verdict = verify_rpc(request.method, params, secrets, wall_now(), tolerance)
    else:
        verdict = verify_acs3(
            request.method,
            request.url.path or "/",
            query,
            list(request.headers.items()),
            body,
            secrets,
            wall_now(),
            tolerance,
        )
    failure = verdict.failure
    if failure is Failure.MISSING:
        raise PopError(
            400,
            "MissingParameter",
            f"The input parameter that is mandatory for processing this request is not supplied: {verdict.detail}.",
        )
    if failure is Failure.UNKNOWN_SECRET_ID:
        raise PopError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    if failure is Failure.EXPIRED:
        raise PopError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    if failure is Failure.BAD_SIGNATURE:
        raise PopError(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. "
            f"server string to sign is:{verdict.string_to_sign or ''}",
        )
    if failure is not None:
        raise PopError(
            400, "IncompleteSignature", f"The request signature does not conform to Aliyun standards: {verdict.detail}."
        )
    caller = verdict.secret_id or ""
    if verdict.nonce and not emu.nonces.first_use("aliyun", caller, verdict.nonce, wall_now(), tolerance * 2):
        raise PopError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
    return caller


def _named_task(params: dict[str, str], emu: Emulator) -> SimTask | None:
    task_id = params.get("TranscodeTaskId")
    return emu.sim.get(task_id) if task_id else None


def _answer(action: str, params: dict[str, str], emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    if action == "GetTranscodeTask":
        return _get(params, emu)
    if action == "ListTranscodeTask":
        return _list(params, emu), None
    if action == "GetVideoList":
        return _video_list(params, emu), None
    return _submit(params, emu)


def _visible(task: SimTask | None, emu: Emulator) -> bool:
    return task is not None and task.dialect is DIALECT and emu.retained(task, RETENTION_S)


def _get(params: dict[str, str], emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    task_id = params.get("TranscodeTaskId", "")
    job_ids = [j for j in params.get("JobIds", "").split(",") if j]
    if not task_id and not job_ids:
        raise PopError(
            400,
            "MissingParameter",
            "The input parameter TranscodeTaskId that is mandatory for processing this request is not supplied.",
        )
    if task_id:
        task = emu.sim.get(task_id)
        if task is None or not _visible(task, emu):
            raise PopError(404, "NoSuchResource", f"The specified resource TranscodeTask {task_id} does not exist.")
        return {"TranscodeTask": bodies.transcode_task(task)}, task
    if len(job_ids) > 10:
        raise PopError(400, "InvalidParameter", "The specified parameter JobIds is not valid: at most 10.")
    found: dict[str, dict[str, Any]] = {}
    for task in emu.visible_tasks(DIALECT, RETENTION_S):
        for output in task.outputs:
            if output.job_id in job_ids:
                found[output.job_id] = bodies.job_info(task, output)
    return {
        "TranscodeJobInfoList": [found[j] for j in job_ids if j in found],
        "NonExistJobIds": [j for j in job_ids if j not in found],
    }, None


def _list(params: dict[str, str], emu: Emulator) -> dict[str, Any]:
    video_id = params.get("VideoId", "")
    if not video_id:
        raise PopError(
            400,
            "MissingParameter",
            "The input parameter VideoId that is mandatory for processing this request is not supplied.",
        )
    try:
        size = int(params.get("PageSize") or 10)
        number = int(params.get("PageNo") or 1)
    except ValueError as exc:
        raise PopError(400, "InvalidParameter", f"The specified parameter PageSize/PageNo is not valid: {exc}") from exc
    if not 1 <= size <= 50 or number < 1:
        raise PopError(400, "InvalidParameter", "The specified parameter PageSize (1-50) or PageNo is not valid.")
    start, end = params.get("StartTime", ""), params.get("EndTime", "")
    tasks = [
        t
        for t in emu.visible_tasks(DIALECT, RETENTION_S)
        if t.file_id == video_id and (not start or iso(t.created_at) >= start) and (not end or iso(t.created_at) <= end)
    ]
    tasks.sort(key=lambda t: t.created_at, reverse=True)
    page = tasks[(number - 1) * size : number * size]
    return {"TranscodeTaskList": [bodies.list_item(t) for t in page]}


def _video_list(params: dict[str, str], emu: Emulator) -> dict[str, Any]:
    try:
        size = int(params.get("PageSize") or 10)
        number = int(params.get("PageNo") or 1)
    except ValueError as exc:
        raise PopError(400, "InvalidParameter", f"The specified parameter PageSize/PageNo is not valid: {exc}") from exc
    if not 1 <= size <= 100 or number < 1:
        raise PopError(400, "InvalidParameter", "The specified parameter PageSize (1-100) or PageNo is not valid.")
    sort = params.get("SortBy") or "CreationTime:Desc"
    if sort not in ("CreationTime:Desc", "CreationTime:Asc"):
        raise PopError(400, "InvalidParameter", f"The specified parameter SortBy is not valid: {sort!r}.")
    start, end = params.get("StartTime", ""), params.get("EndTime", "")
    if start and end and end <= start:
        raise PopError(400, "InvalidParameter", "The specified parameter EndTime must be later than StartTime.")
    wanted = {s for s in params.get("Status", "").split(",") if s}
    videos: dict[str, list[SimTask]] = {}
    for task in emu.sim.tasks(DIALECT):  # videos outlive their tasks' one-year query window
        videos.setdefault(task.file_id, []).append(task)
    items = [bodies.video_item(tasks) for tasks in videos.values()]
    items = [
        v
        for v in items
        if (not start or v["CreationTime"] >= start)
        and (not end or v["CreationTime"] <= end)
        and (not wanted or v["Status"] in wanted)
    ]
    items.sort(key=lambda v: str(v["CreationTime"]), reverse=sort.endswith("Desc"))
    reachable = items[:VIDEO_LIST_CAP]
    page = reachable[(number - 1) * size : number * size]
    return {"Total": len(items), "VideoList": {"Video": page}}


def _submit(params: dict[str, str], emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    video_id = params.get("VideoId", "")
    if not video_id:
        raise PopError(
            400,
            "MissingParameter",
            "The input parameter VideoId that is mandatory for processing this request is not supplied.",
        )
    url = extend = None
    if params.get("UserData"):
        try:
            user_data = json.loads(params["UserData"])
        except ValueError as exc:
            raise PopError(
                400, "InvalidParameter", f"The specified parameter UserData is not valid JSON: {exc}"
            ) from exc
        if isinstance(user_data, dict):
            callback = user_data.get("MessageCallback")
            if isinstance(callback, dict) and callback.get("CallbackURL"):
                url = str(callback["CallbackURL"])
            if "Extend" in user_data:
                raw = user_data["Extend"]
                extend = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))
    task = emu.create_task(
        TaskRequest(
            dialect=DIALECT,
            kind="transcode",
            file_id=video_id,
            callback_url=url,
            extend=extend,
            trigger="Manual",
            extra={"template_group_id": params["TemplateGroupId"]} if params.get("TemplateGroupId") else {},
        )
    )
    jobs = [{"JobId": o.job_id} for o in task.outputs]
    return {"TranscodeTaskId": task.id, "TranscodeJobs": {"TranscodeJob": jobs}}, task

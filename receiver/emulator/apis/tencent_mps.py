"""Tencent MPS API actions: ProcessMedia (creates a WorkflowTask), DescribeTaskDetail, DescribeTasks.

Retention 7 days (the Chinese docs, SDK and CLI; an old intl page says 3); unknown or expired tasks get
ResourceNotFound (which of the documented candidates MPS really returns is not known). DescribeTasks'
StartTime/EndTime ("查询任务开始/结束时间") are read as a creation-time range, start inclusive, end exclusive
(the docs do not say which time they bound). ProcessMedia's
TaskNotifyConfig decides the callback: `NotifyType=URL` with `NotifyUrl` (and `NotifyKey` to sign), as MPS
does; without one the dialect's configured URL is used.
"""

from __future__ import annotations

from typing import Any

from receiver.emulator.apis.tc3 import ApiError, Call, Handler, iso_param, optional_int, require_str
from receiver.emulator.bodies import tencent_mps as bodies
from receiver.emulator.config import Dialect
from receiver.emulator.engine import Emulator
from receiver.emulator.simulation import OutputRequest, SimTask, TaskRequest

DIALECT = Dialect.TENCENT_MPS
RETENTION_S = 7 * 86400.0


async def describe_task_detail(call: Call, emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    task_id = require_str(call.params, "TaskId")
    task = emu.sim.get(task_id)
    if task is None or task.dialect is not DIALECT or not emu.retained(task, RETENTION_S):
        raise ApiError("ResourceNotFound", f"task {task_id} not found (tasks of the last 7 days are kept)")
    return bodies.task_detail(task), task


async def describe_tasks(call: Call, emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    status = call.params.get("Status")
    if status not in (None, "", "WAITING", "PROCESSING", "FINISH"):
        raise ApiError("InvalidParameterValue", f"Status {status!r} is not WAITING, PROCESSING or FINISH.")
    limit = optional_int(call.params, "Limit", 10, 1, 100)
    token = call.params.get("ScrollToken") or ""
    since, until = iso_param(call.params, "StartTime"), iso_param(call.params, "EndTime")
    tasks = [
        t
        for t in emu.visible_tasks(DIALECT, RETENTION_S)
        if (not status or str(t.status) == status)
        and (since is None or t.created_at >= since)
        and (until is None or t.created_at < until)
    ]
    failed_only = call.params.get("SubTaskHasFailed")
    if failed_only is True or failed_only == "true":
        tasks = [t for t in tasks if t.failed_outputs]
    tasks.reverse()  # newest first
    start = 0
    if token:
        ids = [t.id for t in tasks]
        if token not in ids:
            raise ApiError("InvalidParameterValue", f"ScrollToken {token!r} is not valid.")
        start = ids.index(token)
    page = tasks[start : start + limit]
    following = tasks[start + limit] if start + limit < len(tasks) else None
    return {
        "TaskSet": [bodies.simple_info(t) for t in page],
        "ScrollToken": following.id if following else "",
        "TotalCount": len(tasks),
    }, None


async def process_media(call: Call, emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    params = call.params
    input_info = params.get("InputInfo")
    if not isinstance(input_info, dict) or not input_info.get("Type"):
        raise ApiError("MissingParameter", "The request is missing a required parameter `InputInfo`.")
    extra: dict[str, Any] = {}
    cos = input_info.get("CosInputInfo")
    if input_info.get("Type") == "COS":
        if not isinstance(cos, dict) or not cos.get("Object"):
            raise ApiError("InvalidParameterValue", "InputInfo.CosInputInfo.Object is required for Type COS.")
        extra.update(bucket=cos.get("Bucket") or "", region=cos.get("Region") or "", object=cos["Object"])
    elif input_info.get("Type") == "URL":
        url = (input_info.get("UrlInputInfo") or {}).get("Url")
        if not url:
            raise ApiError("InvalidParameterValue", "InputInfo.UrlInputInfo.Url is required for Type URL.")
        extra.update(object=str(url))
    output = params.get("OutputStorage")
    if isinstance(output, dict) and isinstance(output.get("CosOutputStorage"), dict):
        extra["output_bucket"] = output["CosOutputStorage"].get("Bucket") or ""
    if params.get("OutputDir"):
        extra["output_dir"] = str(params["OutputDir"])
    process = params.get("MediaProcessTask") or {}
    transcodes = process.get("TranscodeTaskSet") if isinstance(process, dict) else None
    if not transcodes and not params.get("ScheduleId"):
        raise ApiError("InvalidParameterValue", "MediaProcessTask.TranscodeTaskSet (or ScheduleId) is required.")
    outputs = [
        OutputRequest(definition=int(t.get("Definition", 0))) for t in transcodes or [] if isinstance(t, dict)
    ] or None
    notify = params.get("TaskNotifyConfig")
    url = key = None
    mode = None
    if isinstance(notify, dict):
        extra["task_notify_config"] = {
            "NotifyType": notify.get("NotifyType", ""),
            "NotifyMode": notify.get("NotifyMode", "Finish"),
            "NotifyUrl": notify.get("NotifyUrl", ""),
            "CmqModel": notify.get("CmqModel", ""),
            "CmqRegion": notify.get("CmqRegion", ""),
            "TopicName": notify.get("TopicName", ""),
            "QueueName": notify.get("QueueName", ""),
        }
        if notify.get("NotifyType") == "URL":
            url = notify.get("NotifyUrl") or None
        key = notify.get("NotifyKey") or None
        mode = notify.get("NotifyMode") if notify.get("NotifyMode") in ("Finish", "Change") else None
    extra["tasks_priority"] = optional_int(params, "TasksPriority", 0, -10, 10)
    session_id = str(params.get("SessionId") or "")
    if session_id and any(t.session_id == session_id for t in emu.visible_tasks(DIALECT, RETENTION_S)):
        raise ApiError("InvalidParameterValue.SessionId", "The SessionId was used within 7 days; deduplicated.")
    if len(session_id) > 50:
        raise ApiError("InvalidParameterValue.SessionIdTooLong", "SessionId is longer than 50 characters.")
    context = str(params.get("SessionContext") or "")
    if len(context) > 1000:
        raise ApiError("InvalidParameterValue.SessionContextTooLong", "SessionContext is longer than 1000.")
    task = emu.create_task(
        TaskRequest(
            dialect=DIALECT,
            kind="workflow",
            outputs=outputs,
            session_id=session_id,
            session_context=context,
            notify_mode=mode,
            callback_url=url,
            callback_key=key,
            extra=extra,
        )
    )
    return {"TaskId": task.id}, task


HANDLERS: dict[str, Handler] = {
    "DescribeTaskDetail": describe_task_detail,
    "DescribeTasks": describe_tasks,
    "ProcessMedia": process_media,
}

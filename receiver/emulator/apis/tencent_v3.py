"""Tencent VOD API 3.0 actions: DescribeTaskDetail, DescribeTasks, PullEvents, ConfirmEvents.

Retention 3 days (older or unknown tasks: ResourceNotFound); DescribeTasks filters by CreateTime (After
inclusive, Before exclusive); PullEvents long-polls on an empty queue and
then answers ResourceNotFound (the tutorial's behaviour); ConfirmEvents refuses unknown or late handles with
InvalidParameterValue.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from receiver.emulator.apis.tc3 import ApiError, Call, Handler, iso_param, optional_int, require_str
from receiver.emulator.bodies import tencent_v3 as bodies
from receiver.emulator.config import Dialect
from receiver.emulator.engine import Emulator
from receiver.emulator.simulation import SimTask

DIALECT = Dialect.TENCENT_VOD_V3
RETENTION_S = 3 * 86400.0


def task_of(call: Call, emu: Emulator) -> SimTask:
    task_id = require_str(call.params, "TaskId")
    task = emu.sim.get(task_id)
    if task is None or task.dialect is not DIALECT or not emu.retained(task, RETENTION_S):
        raise ApiError("ResourceNotFound", f"The task {task_id} does not exist or is older than 3 days.")
    return task


async def describe_task_detail(call: Call, emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    task = task_of(call, emu)
    return bodies.task_detail(task), task


async def describe_tasks(call: Call, emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    status = call.params.get("Status")
    if status not in (None, "", "WAITING", "PROCESSING", "FINISH"):
        raise ApiError("InvalidParameterValue.Status", f"Status {status!r} is not WAITING, PROCESSING or FINISH.")
    file_id = call.params.get("FileId")
    limit = optional_int(call.params, "Limit", 10, 1, 100)
    token = call.params.get("ScrollToken") or ""
    after, before = created_range(call.params.get("CreateTime"))
    tasks = [
        t
        for t in emu.visible_tasks(DIALECT, RETENTION_S)
        if (not status or str(t.status) == status)
        and (not file_id or t.file_id == file_id)
        and (after is None or t.created_at >= after)
        and (before is None or t.created_at < before)
    ]
    sort = call.params.get("Sort")
    if isinstance(sort, dict) and sort.get("Order") == "Desc":
        tasks.reverse()
    start = 0
    if token:
        ids = [t.id for t in tasks]
        if token not in ids:
            raise ApiError("InvalidParameterValue", f"ScrollToken {token!r} is not valid.")
        start = ids.index(token)
    page = tasks[start : start + limit]
    following = tasks[start + limit] if start + limit < len(tasks) else None
    return {"TaskSet": [bodies.simple_info(t) for t in page], "ScrollToken": following.id if following else ""}, None


def created_range(value: Any) -> tuple[datetime | None, datetime | None]:
    """DescribeTasks' `CreateTime` TimeRange: `After` inclusive, `Before` exclusive (the SDK's TimeRange)."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise ApiError("InvalidParameterValue.CreateTime", f"CreateTime must be a TimeRange object, got {value!r}.")
    return iso_param(value, "After", "CreateTime.After"), iso_param(value, "Before", "CreateTime.Before")


async def pull_events(call: Call, emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    if emu.dialect_config(DIALECT).mode != "pull":
        raise ApiError("FailedOperation", "Reliable callback (PULL mode) is not enabled; see ModifyEventConfig.")
    queue = emu.queues[DIALECT]
    if not queue.available(emu.clock.now()) and emu.config.pull_wait_s > 0:
        waiter = emu.pull_waiters[DIALECT]
        waiter.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), timeout=emu.config.pull_wait_s)
    items = queue.pull(emu.clock.now())
    if not items:
        raise ApiError("ResourceNotFound", "No event to pull.")
    v3 = emu.bodies[DIALECT]
    assert isinstance(v3, bodies.TencentV3Bodies)
    events = []
    for item in items:
        assert item.handle is not None
        events.append(v3.pull_content(item.publication.notice, item.handle))
    return {"EventSet": events}, None


async def confirm_events(call: Call, emu: Emulator) -> tuple[dict[str, Any], SimTask | None]:
    handles = call.params.get("EventHandles")
    if not isinstance(handles, list) or not handles or not all(isinstance(h, str) for h in handles):
        raise ApiError("MissingParameter", "The request is missing a required parameter `EventHandles`.")
    if len(handles) > 16:
        raise ApiError("InvalidParameterValue", "EventHandles holds at most 16 handles.")
    _, refused = emu.queues[DIALECT].confirm(list(handles), emu.clock.now())
    if refused:
        raise ApiError(
            "InvalidParameterValue",
            f"EventHandle {refused[0]} is unknown or was not confirmed within 30 s of its pull.",
        )
    return {}, None


HANDLERS: dict[str, Handler] = {
    "DescribeTaskDetail": describe_task_detail,
    "DescribeTasks": describe_tasks,
    "PullEvents": pull_events,
    "ConfirmEvents": confirm_events,
}

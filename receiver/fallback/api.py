"""`/api/tasks`: register a task for the fallback to watch (POST), list what it watches (GET).

POST `{"source", "task_id", "deadline_s"?, "created_at"?, "task_kind"?}`: the deadline counts from
`created_at` (the provider's creation time, also the retention guard) or from now.
GET `?state=open|done|recovered|lost&overdue=1&source=&limit=`: oldest deadline first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from receiver.fallback.scheduler import Fallback
from receiver.store.base import TrackedFilter, TrackedTask, TrackState


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    task_id: str = Field(min_length=1)
    deadline_s: float | None = Field(None, ge=0)
    created_at: datetime | None = None
    task_kind: str | None = None


def tracked_json(task: TrackedTask) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "provider": task.provider,
        "task_id": task.task_id,
        "source": task.source,
        "via": task.via,
        "task_kind": task.task_kind,
        "state": task.state.value,
        "tracked_at": when(task.tracked_at),
        "created_at": when(task.created_at),
        "deadline": when(task.deadline),
        "next_check_at": when(task.next_check_at),
        "attempts": task.attempts,
        "last_error": task.last_error,
        "resolved_at": when(task.resolved_at),
    }


async def register_or_list(request: Request) -> JSONResponse:
    fallback: Fallback = request.app.state.fallback
    if request.method == "GET":
        return await _list(request, fallback)
    try:
        body = Registration.model_validate(await request.json())
    except (ValidationError, ValueError) as exc:
        return JSONResponse({"error": f"invalid task registration: {exc}"}, 400)
    runtime = fallback.sources.get(body.source)
    if runtime is None:
        known = ", ".join(fallback.sources) or "none"
        return JSONResponse({"error": f"source {body.source!r} has no fallback settings (configured: {known})"}, 400)
    deadline = None
    if body.deadline_s is not None:
        deadline = (body.created_at or fallback.clock.now()) + timedelta(seconds=body.deadline_s)
    task = fallback.tracker.new(
        runtime.api.provider.value, body.task_id, body.source, via="user", task_kind=body.task_kind,
        created_at=body.created_at, deadline=deadline,
    )
    existing = await fallback.store.get_tracked(task.provider, task.task_id)
    if existing is None or existing.state is TrackState.OPEN:
        await fallback.store.save_tracked(task)
    saved = await fallback.store.get_tracked(task.provider, task.task_id)
    assert saved is not None
    return JSONResponse(tracked_json(saved), 201)


async def _list(request: Request, fallback: Fallback) -> JSONResponse:
    params = request.query_params
    try:
        state = TrackState(params["state"]) if "state" in params else None
        limit = int(params.get("limit", "100"))
    except ValueError as exc:
        return JSONResponse({"error": f"bad query parameter: {exc}"}, 400)
    overdue = params.get("overdue") in ("1", "true")
    found = await fallback.store.list_tracked(
        TrackedFilter(
            state=TrackState.OPEN if overdue else state,
            overdue_at=fallback.clock.now() if overdue else None,
            source=params.get("source"),
            limit=max(1, min(limit, 1000)),
        )
    )
    task_id = params.get("task_id")
    items = [tracked_json(t) for t in found if task_id is None or t.task_id == task_id]
    return JSONResponse({"items": items})

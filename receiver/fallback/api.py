"""Registering and listing the fallback's tracked tasks: `/api/tasks` (POST, GET) and `vodhook tasks track|list`.

Both surfaces call `register`, `list_filter` and `tracked_json` here, so the HTTP API and the command line
mean the same thing by a registration and render a tracked task the same way.

POST `{"source", "task_id", "deadline_s"?, "created_at"?, "task_kind"?}`: the deadline counts from
`created_at` (the provider's creation time, also the retention guard) or from now; without `deadline_s` it is
the configured one (per source and task kind). Registering a task that is still open replaces its row (a new
deadline); a task already closed (done, recovered, lost) is left as it is.
GET `?state=open|done|recovered|lost&overdue=1&source=&limit=`: oldest deadline first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse

from receiver import dialects
from receiver.config import Settings
from receiver.fallback.scheduler import Fallback
from receiver.fallback.tracking import Tracker
from receiver.store.base import TrackedFilter, TrackedTask, TrackState

MAX_LIMIT = 1000  # per GET /api/tasks page


class RegistrationError(ValueError):
    """A registration the configuration cannot serve; the message names the source."""


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    task_id: str = Field(min_length=1)
    deadline_s: float | None = Field(None, ge=0)
    created_at: datetime | None = None
    task_kind: str | None = None

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is UTC (as everywhere in vodhook); the store compares aware times only."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def source_provider(settings: Settings, source: str) -> str:
    """The provider a source's tasks belong to, if the fallback can watch that source (else RegistrationError)."""
    configured = settings.sources.get(source)
    if configured is None:
        known = ", ".join(settings.sources) or "none"
        raise RegistrationError(f"unknown source {source!r} (sources: {known})")
    if source not in settings.fallback.sources:
        known = ", ".join(settings.fallback.sources) or "none"
        raise RegistrationError(
            f"source {source!r} has no fallback settings: add [fallback.sources.{source}] with its credentials"
            f" (sources with fallback settings: {known})"
        )
    try:
        return dialects.get(configured.dialect).provider.value
    except KeyError as exc:
        raise RegistrationError(f"source {source!r}: dialect {configured.dialect!r} cannot be queried") from exc


async def register(tracker: Tracker, settings: Settings, body: Registration) -> TrackedTask:
    """Track `body`'s task (or give it a new deadline while it is open); returns its row as stored."""
    provider = source_provider(settings, body.source)
    deadline = None
    if body.deadline_s is not None:
        deadline = (body.created_at or tracker.clock.now()) + timedelta(seconds=body.deadline_s)
    task = tracker.new(
        provider,
        body.task_id,
        body.source,
        via="user",
        task_kind=body.task_kind,
        created_at=body.created_at,
        deadline=deadline,
    )
    existing = await tracker.store.get_tracked(provider, body.task_id)
    if existing is None or existing.state is TrackState.OPEN:
        await tracker.store.save_tracked(task)
    saved = await tracker.store.get_tracked(provider, body.task_id)
    if saved is None:
        raise RuntimeError(f"tracked task {provider}/{body.task_id} was not stored")
    return saved


def list_filter(
    now: datetime,
    *,
    state: TrackState | None = None,
    overdue: bool = False,
    source: str | None = None,
    limit: int = 100,
) -> TrackedFilter:
    """`overdue`: open tasks whose deadline has passed (it overrides `state`)."""
    return TrackedFilter(
        state=TrackState.OPEN if overdue else state,
        overdue_at=now if overdue else None,
        source=source,
        limit=limit,
    )


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
    try:
        saved = await register(fallback.tracker, request.app.state.settings, body)
    except RegistrationError as exc:
        return JSONResponse({"error": str(exc)}, 400)
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
        list_filter(
            fallback.clock.now(),
            state=state,
            overdue=overdue,
            source=params.get("source"),
            limit=max(1, min(limit, MAX_LIMIT)),
        )
    )
    task_id = params.get("task_id")
    items = [tracked_json(t) for t in found if task_id is None or t.task_id == task_id]
    return JSONResponse({"items": items})

"""The read API under `/api`: events, tasks with their timeline, captures, quarantine, refusals, the outbox
(dead letters), and its OpenAPI document (receiver/routes/openapi.py). Cursor-paginated, newest first.

A bearer token guards it when `admin_token` is set (compared in constant time).
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.dialects._coerce import Lenient
from receiver.fallback import api as tracked_tasks
from receiver.routes.openapi import openapi_document
from receiver.store.base import (
    Capture,
    CaptureFilter,
    CaptureState,
    EventFilter,
    OutboxFilter,
    OutboxMessage,
    OutboxState,
    Refusal,
    Store,
    StoredEvent,
)

MAX_LIMIT = 1000
#: The largest id or cursor a store column holds (SQLite and PostgreSQL BIGINT).
MAX_ID = 2**63 - 1


class BadQuery(ValueError):
    """A query parameter is wrong; answered 400 naming the parameter and the value."""


class BearerAuth:
    """Requires `Authorization: Bearer <token>` on every request it wraps, when a token is configured."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is not None and scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"error": "missing or wrong bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _store(request: Request) -> Store:
    store: Store = request.app.state.pipeline.store
    return store


def _time_param(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    parsed = Lenient().time_(value, name)
    if parsed is None:
        raise BadQuery(f"query parameter {name!r} is not a time: {value!r} (use ISO-8601 or unix seconds)")
    return parsed


def _int_param(request: Request, name: str, default: int | None, maximum: int | None = None) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise BadQuery(f"query parameter {name!r} must be a non-negative integer up to {MAX_ID}, got {value!r}")
    number = int(value)
    return min(number, maximum) if maximum else number


def event_json(stored: StoredEvent) -> dict[str, Any]:
    return {"seq": stored.seq, "effect": stored.effect.value, **stored.event.model_dump(mode="json")}


async def list_events(request: Request) -> JSONResponse:
    limit = _int_param(request, "limit", 100, MAX_LIMIT) or 100
    filt = EventFilter(
        source=request.query_params.get("source"),
        provider=request.query_params.get("provider"),
        task_id=request.query_params.get("task_id"),
        event_type=request.query_params.get("event_type"),
        since=_time_param(request, "since"),
        until=_time_param(request, "until"),
        before_seq=_int_param(request, "cursor", None),
        limit=limit,
    )
    found = await _store(request).list_events(filt)
    next_cursor = str(found[-1].seq) if len(found) == limit else None
    return JSONResponse({"items": [event_json(item) for item in found], "next_cursor": next_cursor})


async def get_event(request: Request) -> JSONResponse:
    stored = await _store(request).get_event(request.path_params["event_id"])
    if stored is None:
        return JSONResponse({"error": f"no event {request.path_params['event_id']!r}"}, 404)
    return JSONResponse(event_json(stored))


async def get_task(request: Request) -> JSONResponse:
    provider, task_id = request.path_params["provider"], request.path_params["task_id"]
    store = _store(request)
    task = await store.get_task(provider, task_id)
    events = await store.task_events(provider, task_id)
    if task is None and not events:
        return JSONResponse({"error": f"no task {task_id!r} of provider {provider!r}"}, 404)
    return JSONResponse(
        {"task": task.model_dump(mode="json") if task else None, "events": [event_json(e) for e in events]}
    )


def _enum_param(request: Request, name: str, enum: type[CaptureState] | type[OutboxState]) -> Any:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(member.value for member in enum)
        raise BadQuery(f"query parameter {name!r} must be one of {known}, got {value!r}") from None


def capture_json(capture: Any, with_body: bool = False) -> dict[str, Any]:
    data = {
        "id": capture.id,
        "source": capture.source,
        "dialect": capture.dialect,
        "origin": capture.origin.value,
        "received_at": capture.received_at.isoformat(),
        "remote": capture.remote,
        "state": capture.state.value,
        "error": capture.error,
        "verification": capture.verification,
        "verification_reason": capture.verification_reason,
        "body_size": len(capture.body),
        "event_ids": list(capture.event_ids),
    }
    if with_body:
        data["method"] = capture.method
        data["path"] = capture.path
        data["query"] = capture.query
        data["headers"] = capture.headers
        data["body"] = capture.body.decode("utf-8", errors="replace")
        data["body_base64"] = base64.b64encode(capture.body).decode("ascii")
    return data


async def list_captures(request: Request) -> JSONResponse:
    limit = _int_param(request, "limit", 100, MAX_LIMIT) or 100
    found: list[Capture] = await _store(request).list_captures(
        CaptureFilter(
            source=request.query_params.get("source"),
            state=_enum_param(request, "state", CaptureState),
            since=_time_param(request, "since"),
            until=_time_param(request, "until"),
            before_id=_int_param(request, "cursor", None),
            limit=limit,
        )
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return JSONResponse({"items": [capture_json(c) for c in found], "next_cursor": next_cursor})


async def get_capture(request: Request) -> JSONResponse:
    capture_id: int = request.path_params["capture_id"]
    found = await _store(request).get_capture(capture_id) if capture_id <= MAX_ID else None
    if found is None:
        return JSONResponse({"error": f"no capture {capture_id}"}, 404)
    return JSONResponse(capture_json(found, with_body=True))


def refusal_json(refusal: Refusal) -> dict[str, Any]:
    return {
        "id": refusal.id,
        "source": refusal.source,
        "received_at": refusal.received_at.isoformat(),
        "remote": refusal.remote,
        "reason": refusal.reason,
        "headers": refusal.headers,
        "body_size": refusal.body_size,
        "body_head_base64": base64.b64encode(refusal.body_head).decode("ascii"),
    }


async def list_refusals(request: Request) -> JSONResponse:
    limit = _int_param(request, "limit", 100, MAX_LIMIT) or 100
    found = await _store(request).list_refusals(limit)
    return JSONResponse({"items": [refusal_json(r) for r in found]})


def outbox_json(message: OutboxMessage) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": message.id,
        "sink": message.sink,
        "event_id": message.event_id,
        "provider": message.provider,
        "task_key": message.task_key,
        "version": message.version,
        "state": str(message.state),
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat(),
        "last_error": message.last_error,
        "created_at": when(message.created_at),
        "delivered_at": when(message.delivered_at),
        "dead_at": when(message.dead_at),
        "redelivery": message.redelivery,
        "message": message.message,
    }


async def list_outbox(request: Request) -> JSONResponse:
    limit = _int_param(request, "limit", 100, MAX_LIMIT) or 100
    found = await _store(request).list_outbox(
        OutboxFilter(
            sink=request.query_params.get("sink"),
            state=_enum_param(request, "state", OutboxState),
            event_id=request.query_params.get("event_id"),
            before_id=_int_param(request, "cursor", None),
            limit=limit,
        )
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return JSONResponse({"items": [outbox_json(m) for m in found], "next_cursor": next_cursor})


async def get_openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


async def list_quarantine(request: Request) -> JSONResponse:
    limit = _int_param(request, "limit", 100, MAX_LIMIT) or 100
    found = await _store(request).list_captures(
        CaptureFilter(
            source=request.query_params.get("source"),
            state=CaptureState.QUARANTINED,
            before_id=_int_param(request, "cursor", None),
            limit=limit,
        )
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return JSONResponse({"items": [capture_json(c, with_body=True) for c in found], "next_cursor": next_cursor})


def routes() -> list[Route]:
    return [
        Route("/events", list_events),
        Route("/events/{event_id}", get_event),
        Route("/tasks/{provider}/{task_id:path}", get_task),
        Route("/quarantine", list_quarantine),
        Route("/tasks", tracked_tasks.register_or_list, methods=["GET", "POST"]),  # the fallback's tasks
        Route("/captures", list_captures),
        Route("/captures/{capture_id:int}", get_capture),
        Route("/refusals", list_refusals),
        Route("/outbox", list_outbox),
        Route("/openapi.json", get_openapi),
    ]

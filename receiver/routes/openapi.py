"""The OpenAPI 3.1 document of the read API (`GET /api/openapi.json`).

Written by hand next to the routes it describes (receiver/routes/admin.py), with the normalized `Event` and
`Task` schemas generated from the pydantic models, so the document cannot drift from what the API returns
for them. tests/test_admin_api.py checks every answer of every documented route against this document.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from receiver.model import Event, Task
from receiver.store.base import CaptureState, Effect, OutboxState, TrackState

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next_cursor": {
                **_nullable(_STRING),
                "description": "Pass as `cursor` for the next (older) page; null on the last page.",
            },
        },
    }


def _capture_schema(with_body: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": _INT,
        "source": _STRING,
        "dialect": _STRING,
        "origin": _ref("Origin"),
        "received_at": _TIME,
        "remote": _nullable(_STRING),
        "state": {"type": "string", "enum": [s.value for s in CaptureState]},
        "error": _nullable(_STRING),
        "verification": {"type": "string", "enum": ["verified", "unsigned", "refused"]},
        "verification_reason": _nullable(_STRING),
        "body_size": _INT,
        "event_ids": {"type": "array", "items": _STRING},
    }
    if with_body:
        properties |= {
            "method": _STRING,
            "path": _STRING,
            "query": _STRING,
            "headers": _STRINGS,
            "body": {**_STRING, "description": "The body as UTF-8 text (undecodable bytes replaced)."},
            "body_base64": {**_STRING, "description": "The body exactly as received."},
        }
    return {"type": "object", "required": sorted(properties), "additionalProperties": False, "properties": properties}


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema([(Event, "serialization"), (Task, "serialization")], ref_template=_REF)
    schemas: dict[str, Any] = dict(top["$defs"])
    stored = copy.deepcopy(schemas["Event"])
    stored["description"] = "A stored event: the normalized event, its store sequence and what it did to its task."
    stored["properties"] = {
        "seq": _INT,
        "effect": {"type": "string", "enum": [e.value for e in Effect]},
        **stored["properties"],
    }
    stored["required"] = ["seq", "effect", *stored.get("required", [])]
    schemas["StoredEvent"] = stored
    schemas["EventPage"] = _page("StoredEvent")
    schemas["TaskTimeline"] = {
        "type": "object",
        "required": ["task", "events"],
        "additionalProperties": False,
        "properties": {
            "task": {**_nullable(_ref("Task")), "description": "null when events exist but none set a state."},
            "events": {"type": "array", "items": _ref("StoredEvent")},
        },
    }
    schemas["Capture"] = _capture_schema(with_body=False)
    schemas["CaptureDetail"] = _capture_schema(with_body=True)
    schemas["CapturePage"] = _page("Capture")
    schemas["QuarantinePage"] = _page("CaptureDetail")
    refusal = {
        "id": _INT,
        "source": _STRING,
        "received_at": _TIME,
        "remote": _nullable(_STRING),
        "reason": _STRING,
        "headers": _STRINGS,
        "body_size": _INT,
        "body_head_base64": _STRING,
    }
    schemas["Refusal"] = {
        "type": "object",
        "required": sorted(refusal),
        "additionalProperties": False,
        "properties": refusal,
    }
    schemas["RefusalList"] = {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": _ref("Refusal")}},
    }
    message = {
        "id": _INT,
        "sink": _STRING,
        "event_id": _STRING,
        "provider": _STRING,
        "task_key": _nullable(_STRING),
        "version": _nullable(_INT),
        "state": {"type": "string", "enum": [s.value for s in OutboxState]},
        "attempts": _INT,
        "next_attempt_at": _TIME,
        "last_error": _nullable(_STRING),
        "created_at": _nullable(_TIME),
        "delivered_at": _nullable(_TIME),
        "dead_at": _nullable(_TIME),
        "redelivery": {"type": "boolean"},
        "message": {"type": "object", "description": "The message as built for the sink."},
    }
    schemas["OutboxMessage"] = {
        "type": "object",
        "required": sorted(message),
        "additionalProperties": False,
        "properties": message,
    }
    schemas["OutboxPage"] = _page("OutboxMessage")
    tracked = {
        "provider": _STRING,
        "task_id": _STRING,
        "source": _STRING,
        "via": _STRING,
        "task_kind": _nullable(_STRING),
        "state": {"type": "string", "enum": list(TrackState)},
        "tracked_at": _nullable(_TIME),
        "created_at": _nullable(_TIME),
        "deadline": _nullable(_TIME),
        "next_check_at": _nullable(_TIME),
        "attempts": _INT,
        "last_error": _nullable(_STRING),
        "resolved_at": _nullable(_TIME),
    }
    schemas["TrackedTask"] = {
        "type": "object",
        "required": sorted(tracked),
        "additionalProperties": False,
        "properties": tracked,
        "description": "A task the fallback poller watches until a callback or a poll settles it.",
    }
    schemas["TrackedList"] = {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": _ref("TrackedTask")}},
    }
    schemas["Registration"] = {
        "type": "object",
        "required": ["source", "task_id"],
        "additionalProperties": False,
        "properties": {
            "source": {"type": "string", "minLength": 1},
            "task_id": {"type": "string", "minLength": 1},
            "deadline_s": {**_nullable({"type": "number", "minimum": 0}), "description": "From created_at or now."},
            "created_at": _nullable(_TIME),
            "task_kind": _nullable(_STRING),
        },
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": _STRING},
        "description": "What went wrong, naming the parameter and value.",
    }
    return schemas


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_ERRORS = {
    "400": _json("Error", "A query parameter is wrong (the message names it and its value)."),
    "401": _json("Error", "Missing or wrong bearer token (only when the receiver has an admin token)."),
}
_NOT_FOUND = {"404": _json("Error", "Nothing with that id.")}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or _STRING}


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or _STRING}


_LIMIT = _query(
    "limit", "Page size (default 100, at most 1000; 0 means the default).", {"type": "integer", "minimum": 0}
)
_CURSOR = _query("cursor", "`next_cursor` of the previous page.", {"type": "integer", "minimum": 0})
_SINCE = _query("since", "Received at or after (ISO-8601 or unix seconds).")
_UNTIL = _query("until", "Received before (ISO-8601 or unix seconds).")
_SOURCE = _query("source", "Only this source (callback endpoint name).")


def _get(operation_id: str, summary: str, ok: dict[str, Any], parameters: list[Any], *, found: bool = False) -> Any:
    responses = {"200": ok, **_ERRORS, **(_NOT_FOUND if found else {})}
    return {"get": {"operationId": operation_id, "summary": summary, "parameters": parameters, "responses": responses}}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document; built once (the models do not change at run time)."""
    paths = {
        "/api/events": _get(
            "listEvents",
            "Stored events, newest first.",
            _json("EventPage", "A page of events."),
            [
                _SOURCE,
                _query("provider", "Only this provider (tencent-vod, tencent-mps, aliyun-vod)."),
                _query("task_id", "Only events of this task (its task key)."),
                _query("event_type", "Only this provider event type."),
                _SINCE,
                _UNTIL,
                _CURSOR,
                _LIMIT,
            ],
        ),
        "/api/events/{event_id}": _get(
            "getEvent", "One stored event.", _json("StoredEvent", "The event."), [_path("event_id")], found=True
        ),
        "/api/tasks/{provider}/{task_id}": _get(
            "getTask",
            "A task's merged state and its timeline (events in the order stored).",
            _json("TaskTimeline", "The task and its events."),
            [_path("provider"), _path("task_id")],
            found=True,
        ),
        "/api/tasks": {
            **_get(
                "listTrackedTasks",
                "Tasks the fallback poller watches, oldest deadline first.",
                _json("TrackedList", "The watched tasks."),
                [
                    _query("state", "Only this state.", {"type": "string", "enum": list(TrackState)}),
                    _query("overdue", "1 or true: only open tasks past their deadline."),
                    _SOURCE,
                    _query("task_id", "Only this task id."),
                    _query("limit", "At most this many (1 to 1000, default 100).", {"type": "integer"}),
                ],
            ),
            "post": {
                "operationId": "trackTask",
                "summary": "Register a task for the fallback poller to watch.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Registration")}},
                },
                "responses": {
                    "201": _json("TrackedTask", "The task as now watched."),
                    "400": _json("Error", "Not a valid registration, or the source has no fallback settings."),
                    "401": _ERRORS["401"],
                },
            },
        },
        "/api/captures": _get(
            "listCaptures",
            "Raw requests as received, newest first (bodies via /api/captures/{capture_id}).",
            _json("CapturePage", "A page of captures."),
            [
                _SOURCE,
                _query("state", "Only captures in this state.", {"type": "string", "enum": list(CaptureState)}),
                _SINCE,
                _UNTIL,
                _CURSOR,
                _LIMIT,
            ],
        ),
        "/api/captures/{capture_id}": _get(
            "getCapture",
            "One capture with its headers and body.",
            _json("CaptureDetail", "The capture."),
            [_path("capture_id", {"type": "integer", "minimum": 0})],
            found=True,
        ),
        "/api/quarantine": _get(
            "listQuarantine",
            "Captures that could not be identified as any event, newest first, with their bodies.",
            _json("QuarantinePage", "A page of quarantined captures."),
            [_SOURCE, _CURSOR, _LIMIT],
        ),
        "/api/refusals": _get(
            "listRefusals",
            "Oversized requests that were refused (413), newest first: headers, size and first bytes.",
            _json("RefusalList", "The most recent refusals (no cursor: the store keeps a capped number)."),
            [_LIMIT],
        ),
        "/api/outbox": _get(
            "listOutbox",
            "Outbox messages, newest first; `state=dead` lists the dead letters (`vodhook outbox retry` re-queues).",
            _json("OutboxPage", "A page of outbox messages."),
            [
                _query("sink", "Only this sink."),
                _query("state", "Only this state.", {"type": "string", "enum": list(OutboxState)}),
                _query("event_id", "Only messages of this event."),
                _CURSOR,
                _LIMIT,
            ],
        ),
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document.",
                "responses": {
                    "200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {}}}},
                    "401": _ERRORS["401"],
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vodhook admin API",
            "version": "1",
            "description": "Read access to what the receiver stored. Lists are cursor-paginated, newest first.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }

"""The message every sink receives: a task's state change, so consumers can drop anything older.

`{"schema_version", "event", "task", "version"}`; `version` is the task's version after this event, so a
consumer holding version N ignores any message with a version ≤ N for the same task.
"""

from __future__ import annotations

from typing import Any

from receiver.model import SCHEMA_VERSION
from receiver.store.base import Applied


def build_message(applied: Applied) -> dict[str, Any]:
    event = applied.event
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "provider": event.provider.value,
        "task_id": event.task_key,
        "version": applied.task.version if applied.task else None,
        "effect": applied.effect.value,
        "event": event.model_dump(mode="json"),
        "task": applied.task.model_dump(mode="json") if applied.task else None,
    }


def message_headers(message: dict[str, Any]) -> dict[str, str]:
    """The headers/properties every sink attaches, so consumers can route without parsing the body."""
    headers = {
        "event-id": str(message["event_id"]),
        "event-type": str(message["event_type"]),
        "provider": str(message["provider"]),
        "schema-version": str(message["schema_version"]),
    }
    if message.get("task_id"):
        headers["task-id"] = str(message["task_id"])
    if message.get("version") is not None:
        headers["task-version"] = str(message["version"])
    return headers

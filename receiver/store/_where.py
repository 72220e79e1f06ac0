"""Which SQL conditions a filter stands for, once for every backend.

Each backend renders the conditions with its own placeholder (`?`, `%s`) and its own value conversion
(SQLite keeps times as sortable text; PostgreSQL takes datetimes and refuses NUL bytes in text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from receiver.store.base import CaptureFilter, EventFilter

#: (condition with `{}` where the placeholder goes, value); only filters that are set appear.
Conditions = list[tuple[str, Any]]


def event_conditions(filt: EventFilter) -> Conditions:
    return _set(
        ("source = {}", filt.source),
        ("provider = {}", filt.provider),
        ("task_key = {}", filt.task_id),
        ("event_type = {}", filt.event_type),
        ("received_at >= {}", filt.since),
        ("received_at < {}", filt.until),
        ("seq < {}", filt.before_seq),
    )


def capture_conditions(filt: CaptureFilter) -> Conditions:
    return _set(
        ("source = {}", filt.source),
        ("state = {}", filt.state.value if filt.state else None),
        ("received_at >= {}", filt.since),
        ("received_at < {}", filt.until),
        ("id < {}", filt.before_id),
        ("id > {}", filt.after_id),
    )


def render_where(conditions: Conditions, placeholder: str, convert: Callable[[Any], Any]) -> tuple[str, list[Any]]:
    """`WHERE …` (or "") and its parameters, converted for the backend."""
    if not conditions:
        return "", []
    clause = " AND ".join(condition.format(placeholder) for condition, _ in conditions)
    return f"WHERE {clause}", [convert(value) for _, value in conditions]


def _set(*pairs: tuple[str, Any]) -> Conditions:
    return [(condition, value) for condition, value in pairs if value is not None]

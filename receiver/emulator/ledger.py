"""The ledger: an append-only record of everything the emulator did, on the emulator clock.

Tests read it at `GET /_emulator/ledger` to check the books balance: every published callback ends either
delivered or dropped (`published == delivered + dropped` once nothing is in flight), and every fault that
was applied is written down next to what it hit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Entry(BaseModel):
    """One thing that happened. `kind` says what; the other fields are filled as they apply."""

    seq: int
    at: str = Field(description="Emulator-clock time, ISO-8601 UTC with milliseconds.")
    kind: str
    task_id: str | None = None
    dialect: str | None = None
    notification_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


# Entry kinds, one vocabulary for tests and tools.
TASK_CREATED = "task_created"
TASK_STATE = "task_state"
PUBLISHED = "published"
ATTEMPT = "attempt"
DELIVERED = "delivered"
DROPPED = "dropped"
QUEUED = "queued"
PULLED = "pulled"
CONFIRMED = "confirmed"
REQUEUED = "requeued"
QUERY = "query"
FAULT = "fault"
CLOCK = "clock"
ERROR = "error"


class Ledger:
    """Appends entries; summarizes them. Single-threaded (the emulator's event loop), so no locking."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._entries: list[Entry] = []
        self._terminal: dict[str, str] = {}  # notification id -> delivered | dropped

    def record(
        self,
        kind: str,
        *,
        task_id: str | None = None,
        dialect: str | None = None,
        notification_id: str | None = None,
        **detail: Any,
    ) -> Entry:
        if kind in (DELIVERED, DROPPED) and notification_id is not None:
            if notification_id in self._terminal:
                raise ValueError(
                    f"notification {notification_id} already {self._terminal[notification_id]}; cannot also be {kind}"
                )
            self._terminal[notification_id] = kind
        entry = Entry(
            seq=len(self._entries) + 1,
            at=self._now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            kind=kind,
            task_id=task_id,
            dialect=dialect,
            notification_id=notification_id,
            detail=detail,
        )
        self._entries.append(entry)
        return entry

    def is_terminal(self, notification_id: str) -> bool:
        return notification_id in self._terminal

    def entries(self, since: int = 0, kind: str | None = None, task_id: str | None = None) -> list[Entry]:
        return [
            e
            for e in self._entries[since:]
            if (kind is None or e.kind == kind) and (task_id is None or e.task_id == task_id)
        ]

    def summary(self) -> dict[str, Any]:
        counts = Counter(e.kind for e in self._entries)
        faults = Counter(str(e.detail.get("fault")) for e in self._entries if e.kind == FAULT)
        published = counts[PUBLISHED]
        delivered = counts[DELIVERED]
        dropped = counts[DROPPED]
        return {
            "tasks": counts[TASK_CREATED],
            "published": published,
            "delivered": delivered,
            "dropped": dropped,
            "in_flight": published - delivered - dropped,
            "attempts": counts[ATTEMPT],
            "queries": counts[QUERY],
            "faults": dict(sorted(faults.items())),
            "balanced": published == delivered + dropped,
        }

    def __len__(self) -> int:
        return len(self._entries)


def iso(when: datetime) -> str:
    """Second-precision UTC ISO-8601 with `Z`, the form every provider here uses."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")

"""Reliable-callback mode: events wait in a per-dialect queue for PullEvent (legacy) / PullEvents (3.0).

A pull leases up to 16 events for 30 s under a fresh handle; confirming the handle in time completes the
event (ledger: delivered); a lease that runs out puts the event back (ledger: requeued) for the next pull,
under a new handle, and the old handle no longer confirms. Events never pulled within 4 days are dropped.
All times are on the emulator clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from receiver.emulator import ledger as L
from receiver.emulator.delivery import Publication
from receiver.emulator.ids import IdSource
from receiver.emulator.ledger import Ledger

LEASE = timedelta(seconds=30)
RETENTION = timedelta(days=4)
MAX_PER_PULL = 16


@dataclass
class Queued:
    publication: Publication
    enqueued_at: datetime
    handle: str | None = None
    leased_until: datetime | None = None
    pulls: int = 0


class PullQueue:
    def __init__(self, ledger: Ledger, handles: IdSource) -> None:
        self._ledger = ledger
        self._handles = handles
        self._items: list[Queued] = []

    def __len__(self) -> int:
        return len(self._items)

    def put(self, publication: Publication, now: datetime) -> None:
        self._items.append(Queued(publication, now))
        self._ledger.record(
            L.QUEUED,
            task_id=publication.notice.task.id,
            dialect=str(publication.dialect),
            notification_id=publication.id,
            queue_length=len(self._items),
        )

    def available(self, now: datetime) -> int:
        self._expire(now)
        return sum(1 for q in self._items if q.leased_until is None or q.leased_until <= now)

    def pull(self, now: datetime, limit: int = MAX_PER_PULL) -> list[Queued]:
        self._expire(now)
        taken: list[Queued] = []
        for item in self._items:
            if len(taken) >= limit:
                break
            if item.leased_until is not None and item.leased_until > now:
                continue
            if item.leased_until is not None:
                self._record(L.REQUEUED, item, lease_expired_at=item.leased_until.isoformat())
            item.handle = self._handles.event_handle()
            item.leased_until = now + LEASE
            item.pulls += 1
            taken.append(item)
            self._record(L.PULLED, item, handle=item.handle, pulls=item.pulls)
        return taken

    def confirm(self, handles: list[str], now: datetime) -> tuple[list[str], list[str]]:
        """Confirm leased handles; returns (confirmed, refused: unknown or past their 30 s)."""
        confirmed: list[str] = []
        refused: list[str] = []
        for handle in handles:
            item = next((q for q in self._items if q.handle == handle), None)
            if item is None or item.leased_until is None or item.leased_until <= now:
                refused.append(handle)
                continue
            self._items.remove(item)
            confirmed.append(handle)
            self._record(L.CONFIRMED, item, handle=handle)
            if not self._ledger.is_terminal(item.publication.id):
                self._record(L.DELIVERED, item)
        return confirmed, refused

    def _expire(self, now: datetime) -> None:
        for item in list(self._items):
            idle = item.leased_until is None or item.leased_until <= now
            if idle and now - item.enqueued_at > RETENTION:
                self._items.remove(item)
                if not self._ledger.is_terminal(item.publication.id):
                    self._record(L.DROPPED, item, reason="not pulled within 4 days")

    def _record(self, kind: str, item: Queued, **detail: object) -> None:
        p = item.publication
        self._ledger.record(kind, task_id=p.notice.task.id, dialect=str(p.dialect), notification_id=p.id, **detail)

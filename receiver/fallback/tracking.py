"""Which tasks the fallback watches and when each is due.

A task is tracked from its first event (a pipeline listener), when a user registers it, or when the sweep
finds it in the provider's listing. Its deadline is its creation (or first sight) plus the deadline of its
source and task kind; a terminal event, however it arrives, closes it (`done`, or `recovered` when our own
query brought it). A held callback (a source with `confirm`) makes its task tracked and due now, in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from receiver.clock import Clock
from receiver.config import FallbackSettings
from receiver.model import Origin, Status
from receiver.store.base import Applied, Effect, Store, TrackedTask, TrackState


class Tracker:
    def __init__(self, store: Store, settings: FallbackSettings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def deadline_s(self, source: str, task_kind: str | None) -> float:
        """Per source and task kind, then per task kind, then the source's, then the global default."""
        own = self.settings.sources.get(source)
        if own is not None and task_kind and task_kind in own.deadlines:
            return own.deadlines[task_kind]
        if task_kind and task_kind in self.settings.deadlines:
            return self.settings.deadlines[task_kind]
        if own is not None and own.deadline_s is not None:
            return own.deadline_s
        return self.settings.deadline_s

    def new(
        self,
        provider: str,
        task_id: str,
        source: str,
        *,
        via: str,
        task_kind: str | None = None,
        created_at: datetime | None = None,
        deadline: datetime | None = None,
    ) -> TrackedTask:
        now = self.clock.now()
        due = deadline or (created_at or now) + timedelta(seconds=self.deadline_s(source, task_kind))
        return TrackedTask(
            provider=provider,
            task_id=task_id,
            source=source,
            deadline=due,
            next_check_at=due,
            tracked_at=now,
            via=via,
            task_kind=task_kind,
            created_at=created_at,
        )

    async def on_applied(self, applied: Sequence[Applied]) -> None:
        """Pipeline listener: track tasks on their first event, close them on their terminal one.

        A held callback (`Effect.HELD`) changes nothing here: the store tracked its task, due now, in the
        transaction that held it. A task with held callbacks still waiting stays open (its query must judge
        them), and one whose terminal event came from our query closes `done`, not `recovered`, when that
        answer confirmed a held callback: the callback did arrive; it was only not believed on its word."""
        if not self.settings.enabled:
            return
        now = self.clock.now()
        fresh: dict[tuple[str, str], TrackedTask] = {}
        closing: dict[tuple[str, str], TrackState] = {}
        waiting: set[tuple[str, str]] = set()
        for item in applied:
            task = item.task
            if item.effect is Effect.HELD or task is None or item.event.task_id is None:
                continue
            key = (task.provider.value, task.task_id)
            if item.still_held:
                waiting.add(key)
            if task.status is Status.FINISHED:
                confirmed = any(verdict.confirmed for verdict in item.confirmations)
                state = TrackState.RECOVERED if item.event.origin is Origin.POLL and not confirmed else TrackState.DONE
                if closing.get(key) is not TrackState.DONE:
                    closing[key] = state
                fresh.pop(key, None)
            elif task.source in self.settings.sources:
                kind = task.task_kind.value if task.task_kind else None
                fresh[key] = self.new(*key, task.source, via="event", task_kind=kind, created_at=task.created_at)
        if fresh:
            await self.store.track_tasks(list(fresh.values()))
        for state in (TrackState.DONE, TrackState.RECOVERED):
            keys = [key for key, closed in closing.items() if closed is state and key not in waiting]
            if keys:
                await self.store.close_tracked(keys, state, now)

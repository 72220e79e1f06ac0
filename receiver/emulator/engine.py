"""The emulator's state in one place: clock, simulated tasks, ledger, faults, callback routing, limits.

Everything runs on one asyncio loop (uvicorn's), so there is no locking: HTTP handlers, the clock ticker
and the callback pushes take turns. Each handler calls `tick()` first, so answers are current even when
the ticker has not run since the clock moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
from datetime import datetime
from typing import Any

from receiver.emulator import ledger as L
from receiver.emulator.bodies import DialectBodies, Notice, make_bodies
from receiver.emulator.config import Dialect, DialectConfig, EmulatorConfig
from receiver.emulator.delivery import Delivery, Publication
from receiver.emulator.faults import CallbackPlan, FaultSpec, QueryPlan, plan_callback, plan_query
from receiver.emulator.ids import IdSource
from receiver.emulator.ledger import Ledger
from receiver.emulator.limits import NonceMemory, RateLimiter
from receiver.emulator.reliable import PullQueue
from receiver.emulator.simulation import Change, EmulatorClock, SimTask, Simulation, TaskRequest, TaskStatus

PULL_DIALECTS = (Dialect.TENCENT_VOD_V2, Dialect.TENCENT_VOD_V3)
SIGNED_DIALECTS = (Dialect.TENCENT_VOD_V3, Dialect.TENCENT_MPS, Dialect.ALIYUN_VOD)


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = EmulatorClock(config.start, config.time_scale)
        self.ledger = Ledger(self.clock.now)
        self.bodies: dict[Dialect, DialectBodies] = make_bodies(config)
        self.sim = Simulation(self.clock, dict(self.bodies), seed=config.seed)
        self.sim.subscribe(self._on_change)
        self.faults: FaultSpec = config.faults
        self.delivery = Delivery(
            self.ledger, self.bodies, config.dialect, self.clock.now, config.reorder_hold_s, config.callback_concurrency
        )
        self.queues = {d: PullQueue(self.ledger, IdSource(config.seed, "handles", str(d))) for d in PULL_DIALECTS}
        self.rates = RateLimiter()
        self.nonces = NonceMemory()
        self._request_ids = IdSource(config.seed, "request-ids")
        self._publications = 0
        self._queries = 0
        self._pull_held: dict[Dialect, Publication] = {}
        self._pull_hold_timers: dict[str, asyncio.Task[None]] = {}
        self._scheduled: list[tuple[datetime, int, TaskRequest]] = []
        self._schedule_seq = 0
        self._ticker: asyncio.Task[None] | None = None
        self.pull_waiters: dict[Dialect, asyncio.Event] = {d: asyncio.Event() for d in PULL_DIALECTS}

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.delivery.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.delivery.stop()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            if self.clock.scale > 0:
                self.tick()

    def tick(self) -> None:
        """Bring the simulation up to the clock: scheduled creations and task steps, in time order."""
        now = self.clock.now()
        while self._scheduled and self._scheduled[0][0] <= now:
            at, _, request = heapq.heappop(self._scheduled)
            self.sim.tick(until=at)
            try:
                self._create(request, at)
            except ValueError as exc:  # a bad scenario entry must not stop the clock
                self.ledger.record(L.ERROR, dialect=str(request.dialect), error=str(exc))
        self.sim.tick()

    # --- control ---------------------------------------------------------------------------------------

    def schedule_task(self, request: TaskRequest, at: datetime) -> None:
        """Create `request` when the emulator clock reaches `at` (scenario files)."""
        self._schedule_seq += 1
        heapq.heappush(self._scheduled, (at, self._schedule_seq, request))

    def create_task(self, request: TaskRequest) -> SimTask:
        self.tick()
        task = self._create(request, None)
        self.tick()
        return task

    def _create(self, request: TaskRequest, at: datetime | None) -> SimTask:
        task = self.sim.create(request, at)
        self.ledger.record(
            L.TASK_CREATED,
            task_id=task.id,
            dialect=str(task.dialect),
            task_kind=task.kind,
            scenario=task.scenario,
            outputs=len(task.outputs),
            planned_begin=task.planned_begin.isoformat(),
            planned_finish=task.planned_finish.isoformat(),
        )
        return task

    def advance(self, task_id: str, to: TaskStatus | None = None) -> SimTask:
        task = self.sim.get(task_id)
        if task is None:
            raise KeyError(task_id)
        self.sim.advance(task_id, to)
        return task

    def move_clock(self, advance_s: float | None = None, to: datetime | None = None) -> datetime:
        before = self.clock.now()
        now = self.clock.set(to) if to is not None else self.clock.advance(advance_s or 0.0)
        self.ledger.record(L.CLOCK, moved_s=round((now - before).total_seconds(), 3))
        self.tick()
        return now

    def dialect_config(self, dialect: Dialect) -> DialectConfig:
        return self.config.dialect(dialect)

    def request_id(self, dialect: Dialect) -> str:
        if dialect is Dialect.ALIYUN_VOD:
            return self._request_ids.aliyun_request_id()
        return self._request_ids.tencent_request_id()

    # --- queries -----------------------------------------------------------------------------------------

    def query_plan(self, dialect: Dialect, action: str, task: SimTask | None = None) -> QueryPlan:
        """Faults for the next query served (the task's own spec if the query names a task that has one)."""
        self._queries += 1
        spec = task.faults if task is not None and task.faults is not None else self.faults
        plan = plan_query(self.config.seed, spec, self._queries)
        for name in plan.applied():
            self.ledger.record(
                L.FAULT,
                dialect=str(dialect),
                task_id=task.id if task else None,
                fault=name,
                action=action,
                query=self._queries,
            )
        return plan

    def record_query(
        self,
        dialect: Dialect,
        action: str,
        outcome: str,
        *,
        http_status: int = 200,
        task_id: str | None = None,
        caller: str | None = None,
    ) -> None:
        self.ledger.record(
            L.QUERY,
            dialect=str(dialect),
            task_id=task_id,
            action=action,
            outcome=outcome,
            http_status=http_status,
            caller=caller,
        )

    def visible_tasks(self, dialect: Dialect, retention_s: float) -> list[SimTask]:
        now = self.clock.now()
        return [t for t in self.sim.tasks(dialect) if self.retained(t, retention_s, now)]

    def retained(self, task: SimTask, retention_s: float, now: datetime | None = None) -> bool:
        if not self.config.enforce_retention:
            return True
        moment = now or self.clock.now()
        return (moment - task.created_at).total_seconds() <= retention_s

    # --- callbacks ---------------------------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        task = change.task
        self.ledger.record(
            L.TASK_STATE,
            task_id=task.id,
            dialect=str(task.dialect),
            change=change.kind,
            status=str(task.status),
            output=change.output.definition if change.output else None,
            output_status=change.output.status if change.output else None,
            at_task_time=change.at.isoformat(),
        )
        config = self.dialect_config(task.dialect)
        for notice in self.bodies[task.dialect].notices(change, config):
            self._publish(notice, config)

    def _publish(self, notice: Notice, config: DialectConfig) -> None:
        task = notice.task
        dialect = task.dialect
        pulled = config.mode == "pull" and dialect in PULL_DIALECTS
        url = None if pulled else task.callback_url or config.callback_url
        if not pulled and not url:
            return  # no callback configured: the provider sends nothing
        key = (task.callback_key or config.callback_key) if dialect in SIGNED_DIALECTS else None
        task.callbacks_planned += 1
        plan = plan_callback(self.config.seed, task.faults or self.faults, task.ordinal, task.callbacks_planned)
        plan = self._applicable(plan, pulled=pulled, signed=bool(key))
        self._publications += 1
        publication = Publication(
            id=f"n{self._publications}",
            seq_in_task=task.callbacks_planned,
            notice=notice,
            dialect=dialect,
            url=url,
            key=key,
            plan=plan,
            published_at=self.clock.now(),
            copies=2 if plan.duplicate else 1,
        )
        ids: dict[str, Any] = {"task_id": task.id, "dialect": str(dialect), "notification_id": publication.id}
        self.ledger.record(
            L.PUBLISHED,
            **ids,
            event_type=notice.event_type,
            route="pull" if pulled else "push",
            url=url,
            signed=bool(key),
            seq_in_task=publication.seq_in_task,
        )
        for name in plan.applied():
            detail: dict[str, Any] = {"delay_s": round(plan.delay_s, 3)} if name == "delay" else {}
            self.ledger.record(L.FAULT, **ids, fault=name, **detail)
        if plan.drop:
            self.ledger.record(L.DROPPED, **ids, reason="fault:drop")
            return
        if pulled:
            self._enqueue(publication)
        else:
            self.delivery.push(publication)

    @staticmethod
    def _applicable(plan: CallbackPlan, *, pulled: bool, signed: bool) -> CallbackPlan:
        """Drop faults that cannot happen on this route (no signature to corrupt, no body to cut)."""
        if pulled:
            return dataclasses.replace(plan, corrupt_signature=False, truncate_body=False, invalid_body=False)
        if not signed:
            return dataclasses.replace(plan, corrupt_signature=False)
        return plan

    def _enqueue(self, publication: Publication) -> None:
        if publication.plan.delay_s > 0:
            self.delivery.spawn(self._enqueue_later(publication))
            return
        self._enqueue_now(publication)

    async def _enqueue_later(self, publication: Publication) -> None:
        await asyncio.sleep(publication.plan.delay_s)
        self._enqueue_now(dataclasses.replace(publication, plan=dataclasses.replace(publication.plan, delay_s=0)))

    def _enqueue_now(self, publication: Publication) -> None:
        dialect = publication.dialect
        queue = self.queues[dialect]
        now = self.clock.now()
        held = self._pull_held.pop(dialect, None)
        if held is not None:
            timer = self._pull_hold_timers.pop(held.id, None)
            if timer is not None:
                timer.cancel()
        if publication.plan.reorder:
            self._pull_held[dialect] = publication
            self._pull_hold_timers[publication.id] = self.delivery.spawn(self._release_pull_hold(publication))
        else:
            for _ in range(publication.copies):
                queue.put(publication, now)
        if held is not None:
            for _ in range(held.copies):
                queue.put(held, now)
        self.pull_waiters[dialect].set()

    async def _release_pull_hold(self, publication: Publication) -> None:
        await asyncio.sleep(self.config.reorder_hold_s)
        self._pull_hold_timers.pop(publication.id, None)
        dialect = publication.dialect
        if self._pull_held.get(dialect) is publication:
            del self._pull_held[dialect]
            for _ in range(publication.copies):
                self.queues[dialect].put(publication, self.clock.now())
            self.pull_waiters[dialect].set()

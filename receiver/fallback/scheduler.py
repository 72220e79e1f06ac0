"""The fallback scheduler: query overdue tasks until they are terminal, or lost.

One scheduler runs per store (a lease, so replicas and `vodhook reconcile` do not double the queries); each
pass sweeps the sources whose sweep is due, then serves the open tracked tasks whose next check has come,
oldest deadline first, each query paid for from the account's shared token bucket. A non-terminal answer
backs off (doubling from `backoff_base_s`). A "not found" answer marks the task `lost` once it is older than
the provider's retention window (the guard: a task the provider has not indexed yet is not lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from receiver.clock import Clock
from receiver.config import Settings
from receiver.fallback.providers import provider_api
from receiver.fallback.pull import pull_once
from receiver.fallback.ratelimit import AccountBucket
from receiver.fallback.runtime import SourceRuntime, Stats
from receiver.fallback.sweep import sweep_source
from receiver.fallback.tracking import Tracker
from receiver.ingest import Pipeline
from receiver.model import Origin
from receiver.signing.query import ProviderError
from receiver.store.base import TrackedFilter, TrackedTask, TrackState

log = logging.getLogger("vodhook.fallback")

LEASE = "fallback-scheduler"
LEASE_TTL_S = 30.0


class Fallback:
    """Owns tracking, the sources' query adapters and the loops; `run_pass` is one pass (reconcile uses it)."""

    def __init__(self, settings: Settings, pipeline: Pipeline, clock: Clock) -> None:
        self.settings = settings.fallback
        self.pipeline = pipeline
        self.store = pipeline.store
        self.clock = clock
        self.tracker = Tracker(self.store, self.settings, clock)
        self.stats = Stats()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sources: dict[str, SourceRuntime] = {}
        for name, own in self.settings.sources.items():
            source = settings.sources.get(name)
            if source is None:
                raise ValueError(f"fallback.sources.{name}: no source {name!r} in [sources]")
            api = provider_api(source.dialect, own)
            rate, burst = own.rate_per_s or api.rate_per_s, own.burst or api.burst
            bucket = AccountBucket(self.store, f"{source.dialect}:{own.secret_id}", rate, burst)
            self.sources[name] = SourceRuntime(name, source.dialect, api, bucket)
        self._last_sweep: dict[str, datetime] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._leading = False

    # lifecycle -----------------------------------------------------------------------------------------

    def attach(self) -> None:
        """Track tasks from the pipeline's events (their first event starts tracking)."""
        self.pipeline.listeners.append(self.tracker.on_applied)

    async def start(self) -> None:
        if not self.settings.enabled or not self.sources:
            return
        self._tasks.append(asyncio.create_task(self._run(), name="vodhook-fallback"))
        for runtime in self.sources.values():
            if self.settings.sources[runtime.name].pull and runtime.api.can_pull:
                self._tasks.append(asyncio.create_task(self._pull_loop(runtime), name=f"vodhook-pull-{runtime.name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._leading:
            with contextlib.suppress(Exception):
                await self.store.release_lease(LEASE, self.holder)
        for runtime in self.sources.values():
            await runtime.api.aclose()

    async def lead(self) -> bool:
        """Hold the scheduler lease (one scheduler per store); True while we hold it."""
        self._leading = await self.store.try_acquire_lease(LEASE, self.holder, LEASE_TTL_S)
        return self._leading

    async def _run(self) -> None:
        while True:
            try:
                if await self.lead():
                    await self.run_pass()
            except Exception:
                log.exception("fallback pass failed; trying again next tick")
            await asyncio.sleep(self.settings.tick_s)

    async def _pull_loop(self, runtime: SourceRuntime) -> None:
        while True:
            try:
                if self._leading and await pull_once(runtime, self.pipeline, self.stats):
                    continue
            except ProviderError as exc:
                log.warning("pull from %s failed: %s", runtime.name, exc)
            except Exception:
                log.exception("pull from %s failed", runtime.name)
            await asyncio.sleep(self.settings.tick_s)

    # one pass ------------------------------------------------------------------------------------------

    async def run_pass(self, *, sweep: bool | None = None) -> int:
        """Sweep what is due (or everything, `sweep=True`), then query due tasks; returns queries made."""
        before = self.stats.queries
        now = self.clock.now()
        for name, runtime in self.sources.items():
            if not (runtime.api.can_list and self.settings.sources[name].sweep) or sweep is False:
                continue
            last = self._last_sweep.get(name)
            if sweep or last is None or (now - last).total_seconds() >= self.settings.sweep_interval_s:
                self._last_sweep[name] = now
                try:
                    await sweep_source(runtime, self.store, self.tracker, self.stats)
                except ProviderError as exc:
                    self._provider_trouble(runtime, exc)
        while True:
            due = await self.store.list_tracked(
                TrackedFilter(state=TrackState.OPEN, due_at=self.clock.now(), limit=self.settings.batch)
            )
            due = [task for task in due if task.source in self.sources]
            if not due:
                break
            for task in due:
                await self.check(task)
            if len(due) < self.settings.batch:
                break
        return self.stats.queries - before

    async def check(self, task: TrackedTask) -> None:
        """Query one tracked task and record what its answer means."""
        runtime = self.sources[task.source]
        await runtime.bucket.acquire()
        self.stats.queries += 1
        now = self.clock.now()
        task = replace(task, attempts=task.attempts + 1)
        try:
            answer = await runtime.api.query(task.task_id)
        except ProviderError as exc:
            self._provider_trouble(runtime, exc)
            if exc.not_found and self._past_retention(task, runtime, now):
                self.stats.lost += 1
                await self.store.save_tracked(
                    replace(task, state=TrackState.LOST, resolved_at=now, last_error=str(exc))
                )
                return
            await self.store.save_tracked(
                replace(task, last_error=str(exc), next_check_at=now + self._backoff(task.attempts))
            )
            return
        await self.pipeline.ingest_document(
            task.source, answer.document, answer.body, Origin.POLL, api=answer.api, task_id_hint=task.task_id
        )
        current = await self.store.get_tracked(task.provider, task.task_id)
        if current is not None and current.state is not TrackState.OPEN:
            await self.store.save_tracked(replace(current, attempts=task.attempts))
            if current.state is TrackState.RECOVERED:
                self.stats.recovered += 1
                self.stats.recovery_delays_s.append(max(0.0, (now - task.deadline).total_seconds()))
            return
        await self.store.save_tracked(
            replace(task, last_error=None, next_check_at=now + self._backoff(task.attempts))
        )

    def _provider_trouble(self, runtime: SourceRuntime, exc: ProviderError) -> None:
        if exc.rate_limited:
            self.stats.rate_limited += 1
            runtime.bucket.rate_limited()
        elif not exc.not_found:
            self.stats.errors += 1
            log.warning("fallback query to %s failed: %s", runtime.name, exc)

    @staticmethod
    def _past_retention(task: TrackedTask, runtime: SourceRuntime, now: datetime) -> bool:
        born = task.created_at or task.tracked_at
        return (now - born).total_seconds() >= runtime.api.retention_s

    def _backoff(self, attempts: int) -> timedelta:
        seconds = self.settings.backoff_base_s * 2 ** max(0, min(attempts - 1, 20))
        return timedelta(seconds=min(seconds, self.settings.backoff_max_s))

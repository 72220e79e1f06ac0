"""`vodhook reconcile`: one fallback pass on demand, beside a running server or without one.

A pass sweeps each selected source's task listing (from the stored cursor; with `since`, back to that time),
then queries the open tracked tasks that are due (with `since`: every open task created or tracked since then,
whatever its next check), oldest deadline first. Every request is paid from the account's token bucket in the
store (`Store.take_tokens`), the bucket a running server's scheduler draws from too, so the two together stay
within the provider's limit. It runs even when `fallback.enabled` is false (that switch is for `serve`).

Beside a running scheduler, without querying a task twice (the decision):

- The scheduler lease is not needed to run, but it decides who queries what. When it is free, the pass takes
  it, renews it in the background while it runs, and gives it back at the end: a server started meanwhile
  leaves its scheduler idle until then, so the pass is the only querier. Its queries ask for the lease as the
  server's do (`Fallback.require_lease`); should it slip away (the store unreachable for longer than the
  lease), the pass goes on as a guest.
- When a running server holds it, the due tasks are that server's: its scheduler serves them every tick,
  oldest deadline first, from the same bucket, so a second querier could not recover them any sooner (the
  bucket caps both together); it could only race the scheduler for a task the scheduler has already read into
  its batch. So the pass leaves them to it (`deferred`), and queries only what that scheduler will not touch
  now: the `since` tasks whose next check is more than `CLAIM_MARGIN_S` away. It claims each first, moving
  its next check `CLAIM_HOLD_S` ahead, so the scheduler's next batches pass it by until our query's verdict
  sets the next check (and a batch it read before the claim skips it: `Fallback.check` reads the row again
  after its token wait and leaves a task whose next check moved).
- Every task is read again before its query (ours and the scheduler's): one that a callback closed, or that
  somebody checked, since the pass listed it is skipped.
- The sweep runs either way: tracking a task already tracked changes nothing, so beside a running scheduler
  the worst case is a listing page both read, never a task queried twice.

A server that died keeps the lease until it expires (`LEASE_TTL_S`): a pass run in that window leaves the due
tasks to nobody (it says how many it deferred, and to whom); the next pass, or the next server, takes them.
A provider's error answer leaves the task open for its next check, as in the scheduler; anything else that
fails one task is logged, counted in `failed`, and the pass goes on to the next task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from receiver.clock import Clock
from receiver.config import Settings
from receiver.fallback.api import source_provider
from receiver.fallback.ratelimit import QueryGateClosed
from receiver.fallback.runtime import SourceRuntime
from receiver.fallback.scheduler import LEASE, Fallback
from receiver.fallback.sweep import sweep_source
from receiver.ingest import Pipeline
from receiver.outbox import build_router
from receiver.signing.query import ProviderError
from receiver.store.base import Store, TrackedFilter, TrackedTask, TrackState

CLAIM_MARGIN_S = 10.0  # beside a running scheduler, a task due sooner than this is left to it
CLAIM_HOLD_S = 120.0  # how far a claim moves a task's next check (our verdict replaces it right after)
MAX_TASKS = 100_000  # tasks one pass looks at; the scheduler (or the next pass) serves the rest

log = logging.getLogger("vodhook.reconcile")


class NothingToReconcile(ValueError):
    """No source (or not the one asked for) can be queried: the message says what to configure."""


@dataclass
class Summary:
    sources: list[str]
    since: datetime | None
    led: bool  # this pass held the scheduler lease (no running scheduler beside it)
    leader: str | None = None  # the running scheduler the due tasks were left to
    queries: int = 0  # provider requests: task queries and listing pages
    discovered: int = 0  # tasks the sweep found that were never heard of
    checked: int = 0  # tasks queried
    recovered: int = 0  # ... whose terminal event only our query brought
    lost: int = 0  # ... the provider no longer knows (past its retention window)
    still_open: int = 0  # ... still without a terminal event
    closed: int = 0  # ... closed otherwise (a callback arrived meanwhile)
    skipped: int = 0  # listed, but closed or checked by somebody else before our query
    deferred: int = 0  # due, left to the running scheduler
    failed: int = 0  # tasks whose check failed other than by a provider's answer (logged)
    errors: list[str] = field(default_factory=list)  # provider errors (not "not found"), first few

    def as_json(self) -> dict[str, Any]:
        value = asdict(self)
        value["since"] = self.since.isoformat() if self.since else None
        return value


def reconcile_settings(settings: Settings, source: str | None) -> Settings:
    """The settings one pass runs with: only `source` (if named) and the fallback switched on."""
    own = settings.fallback.sources
    if source is not None:
        source_provider(settings, source)  # RegistrationError naming the source, if it cannot be queried
        own = {source: own[source]}
    if not own:
        raise NothingToReconcile(
            "no source has fallback settings: add [fallback.sources.<source>] with the provider account's"
            f" secret_id and secret_key (sources: {', '.join(settings.sources) or 'none'})"
        )
    fallback = settings.fallback.model_copy(update={"enabled": True, "sources": own})
    return settings.model_copy(update={"fallback": fallback})


async def reconcile(
    settings: Settings, store: Store, clock: Clock, *, since: datetime | None = None, source: str | None = None
) -> Summary:
    """One pass over `store` (opened by the caller); see the module docstring."""
    settings = reconcile_settings(settings, source)
    route = build_router(settings.sinks) if settings.sinks else None  # recovered events are forwarded too
    pipeline = Pipeline(store, settings.sources, clock, route=route)
    fallback = Fallback(settings, pipeline, clock)
    fallback.attach()
    try:
        return await _Pass(fallback, since).run()
    finally:
        await fallback.stop()  # closes the query clients; gives the lease back if the pass held it


class _Pass:
    def __init__(self, fallback: Fallback, since: datetime | None) -> None:
        self.fallback = fallback
        self.store = fallback.store
        self.since = since
        self.summary = Summary(sources=list(fallback.sources), since=since, led=False)
        self._keeper: asyncio.Task[None] | None = None

    async def run(self) -> Summary:
        summary = self.summary
        if await self.fallback.lead():
            summary.led = True
            self.fallback.require_lease()  # should the lease slip away after all, no query goes out as leader
            self._keeper = asyncio.create_task(self._keep_lease(), name="vodhook-reconcile-lease")
        else:
            summary.leader = await self.store.lease_holder(LEASE)
        try:
            for runtime in self.fallback.sources.values():
                await self._sweep(runtime)
            for task in await self._candidates():
                await self._serve(task)
        finally:
            await self._stop_keeping()
        summary.queries = self.fallback.stats.queries
        summary.discovered = self.fallback.stats.discovered
        return summary

    async def _keep_lease(self) -> None:
        """Renew the lease while the pass runs, however long a sweep or a token wait takes."""
        lease = self.fallback.lease
        while lease.held():
            await lease.keep()
            await asyncio.sleep(lease.renew_every_s / 2)

    async def _stop_keeping(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _as_guest(self) -> None:
        """The lease slipped away (the store was unreachable long enough): go on beside whoever has it now."""
        await self._stop_keeping()
        self.summary.led = False
        for runtime in self.fallback.sources.values():
            runtime.bucket.gate = None
        self.summary.leader = await self.store.lease_holder(LEASE)

    async def _sweep(self, runtime: SourceRuntime) -> None:
        if not (runtime.api.can_list and self.fallback.settings.sources[runtime.name].sweep):
            return
        tracker, stats = self.fallback.tracker, self.fallback.stats
        try:
            try:
                await sweep_source(runtime, self.store, tracker, stats, since=self.since)
            except QueryGateClosed:
                await self._as_guest()  # tracking is idempotent: sweep again from the start, as a guest
                await sweep_source(runtime, self.store, tracker, stats, since=self.since)
        except ProviderError as exc:
            self._trouble(runtime, exc)

    async def _candidates(self) -> list[TrackedTask]:
        now = self.fallback.clock.now()
        only = next(iter(self.fallback.sources)) if len(self.fallback.sources) == 1 else None
        found = await self.store.list_tracked(
            TrackedFilter(state=TrackState.OPEN, due_at=None if self.since else now, source=only, limit=MAX_TASKS)
        )
        return [task for task in found if task.source in self.fallback.sources and self._recent(task)]

    def _recent(self, task: TrackedTask) -> bool:
        """Without `since` every due task counts; with it, those created or tracked since then."""
        since = self.since
        return since is None or task.tracked_at >= since or (task.created_at is not None and task.created_at >= since)

    async def _serve(self, listed: TrackedTask) -> None:
        summary = self.summary
        task = await self.store.get_tracked(listed.provider, listed.task_id)
        if task is None or task.state is not TrackState.OPEN or task.attempts != listed.attempts:
            summary.skipped += 1  # closed, or checked by somebody else, since we listed it
            return
        if summary.led:
            try:
                await self._check(task)
                return
            except QueryGateClosed:
                await self._as_guest()
        now = self.fallback.clock.now()
        if task.next_check_at <= now + timedelta(seconds=CLAIM_MARGIN_S):
            summary.deferred += 1  # the running scheduler serves it (it may hold it in its batch already)
            return
        claimed = replace(task, next_check_at=max(task.next_check_at, now + timedelta(seconds=CLAIM_HOLD_S)))
        await self.store.save_tracked(claimed)
        await self._check(claimed)

    async def _check(self, task: TrackedTask) -> None:
        """`Fallback.check` (which reads the row again after the token wait), then what its verdict was."""
        summary = self.summary
        errors = self.fallback.stats.errors
        try:
            queried = await self.fallback.check(task)
        except QueryGateClosed:
            raise
        except Exception as exc:
            log.exception("reconcile: checking %s %s failed", task.provider, task.task_id)
            summary.failed += 1
            self._note(f"{task.source} {task.task_id}: {exc!r}")
            return
        if not queried:
            summary.skipped += 1
            return
        summary.checked += 1
        verdict = await self.store.get_tracked(task.provider, task.task_id)
        state = verdict.state if verdict is not None else TrackState.OPEN
        if state is TrackState.RECOVERED:
            summary.recovered += 1
        elif state is TrackState.LOST:
            summary.lost += 1
        elif state is TrackState.OPEN:
            summary.still_open += 1
            if self.fallback.stats.errors > errors and verdict is not None and verdict.last_error:
                self._note(verdict.last_error)
        else:
            summary.closed += 1

    def _trouble(self, runtime: SourceRuntime, exc: ProviderError) -> None:
        if exc.rate_limited:
            self.fallback.stats.rate_limited += 1
            runtime.bucket.rate_limited()
        self.fallback.stats.errors += 1
        self._note(f"{runtime.name}: {exc}")

    def _note(self, error: str) -> None:
        if len(self.summary.errors) < 10:
            self.summary.errors.append(error)

"""The fallback scheduler: query overdue tasks until they are terminal, or lost.

One scheduler runs per store (a lease, so replicas do not double the queries); each pass sweeps the sources
whose sweep is due, then serves the open tracked tasks whose next check has come, oldest deadline first,
each query paid for from the account's shared token bucket. When several tasks of a source are due at once,
one listing request may first say which are still running (`batch`): those are not queried. A task an answer
(or such a listing) shows still running is asked again when its age has doubled (`pacing`: within
`backoff_base_s`..`backoff_max_s`); an error backs off, doubling from `backoff_base_s`. A "not found" answer
marks the task `lost` once it is older than the provider's retention window (the guard: a task the provider
has not indexed yet is not lost).

Under concurrency and failure:
- the serving scheduler queries only while it can prove it holds the lease (`lease.Lease`: TTL minus a
  margin, counted from before the renewal went out): a pass stops before the lease could have passed to
  another replica, and the pull loop does not pull meanwhile;
- each task is read again after its token wait, right before its query: one a callback finished (or that
  somebody else checked) while we waited is not queried;
- a verdict written back is checked against the task's state once more, so a callback that finished the task
  while its query was out is never undone by our write;
- a rate-limit answer pauses the account's bucket (for every process) and ends the pass, so the next pass
  starts again from the oldest deadline.

Confirming callbacks (a source with `confirm`; the decision): a terminal callback of such a source is held by
the store (`Effect.HELD`: stored, task unchanged, nothing forwarded) and its task made due now; this scheduler
then queries it like any due task: same bucket, same lease, same backoff. The answer is applied as every poll
is, so what the sinks see is the provider's state, once, and in the same transaction the store judges the held
callbacks against the task's new state (`state.judge_held`): confirmed, or not (the answer ends otherwise; or,
once the source's `confirm_grace_s` has passed since the callback arrived, the answer is still not terminal or
the provider does not know the task at all), the latter refusing the callback's capture with a reason
`vodhook reprocess --refused` can act on later. The grace is there because providers update their task API
about when, or a little after, they call back: within it, "not finished" or "not found" leaves the callback
held. Here only the consequences: unconfirmed callbacks are counted (`vodhook_unconfirmed_callbacks_total`) and
warned about, rate-limited; a task whose held callback came in while its question was out is asked again at
once; one whose held callback the provider has not caught up with yet is asked again soon (`_held_wait`: the
time since the callback, at least `HELD_RECHECK_S`, never past the end of the grace nor beyond the usual wait),
so a few queries settle it whatever the grace, and the first answer after the grace does; and a task a held
callback is waiting on stays open (not even lost) until its query has judged it. The task of an unconfirmed
callback stays tracked and is polled until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from receiver.clock import Clock
from receiver.config import Settings
from receiver.fallback.batch import RETRY_AFTER_S, Listed, running_among, worth_listing
from receiver.fallback.lease import Lease
from receiver.fallback.pacing import recheck_wait, task_age_s
from receiver.fallback.providers import provider_api
from receiver.fallback.pull import pull_once
from receiver.fallback.ratelimit import AccountBucket, QueryGateClosed
from receiver.fallback.runtime import SourceRuntime, Stats
from receiver.fallback.sweep import sweep_source
from receiver.fallback.tracking import Tracker
from receiver.ingest import Pipeline
from receiver.model import Origin, Status
from receiver.signing.query import ProviderError
from receiver.state import grace_ends
from receiver.store.base import Applied, Confirmation, Effect, StoreUnavailable, TrackedFilter, TrackedTask, TrackState

log = logging.getLogger("vodhook.fallback")

LEASE = "fallback-scheduler"
LEASE_TTL_S = 30.0  # the lease is renewed every third of it and given up a third before it runs out
UNCONFIRMED_WARN_EVERY_S = 1.0  # at most one "callback not confirmed" warning this often (as for refusals)
HELD_RECHECK_S = 5.0  # the shortest wait before asking again about a task whose provider lags its held callback
ASKED_AGAIN_KEPT = 10_000  # `_held_wait` remembers "asked again at once" for this many tasks, then forgets them all


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
        self.lease = Lease(self.store, LEASE, self.holder, clock, LEASE_TTL_S)
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
        self._warned_at: float | None = None  # the last "not confirmed" warning (time.monotonic)
        self._unwarned = 0  # unconfirmed callbacks not warned about since
        # Per task, the newest held callback it was asked about again at once for (`_held_wait`): once each.
        self._asked_again_for: dict[tuple[str, str], datetime] = {}

    # lifecycle -----------------------------------------------------------------------------------------

    def attach(self) -> None:
        """Track tasks from the pipeline's events (their first event starts tracking)."""
        self.pipeline.listeners.append(self.tracker.on_applied)

    def require_lease(self) -> None:
        """From now on every query this instance makes (task queries, listing pages) needs the scheduler
        lease: each one asks `lease.held()` before its token and again right before it goes out."""
        for runtime in self.sources.values():
            runtime.bucket.gate = self.lease.held

    async def start(self) -> None:
        if not self.settings.enabled or not self.sources:
            return
        self.require_lease()
        self._tasks.append(asyncio.create_task(self._hold_lease(), name="vodhook-fallback-lease"))
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
        with contextlib.suppress(Exception):
            await self.lease.release()
        for runtime in self.sources.values():
            await runtime.api.aclose()

    @property
    def leading(self) -> bool:
        """True while this instance can prove it holds the scheduler lease."""
        return self.lease.held()

    async def lead(self) -> bool:
        """Take or renew the scheduler lease (one scheduler per store); True while we hold it."""
        return await self.lease.acquire()

    async def _hold_lease(self) -> None:
        """Take the lease when it is free, renew it while ours, independently of how long a pass takes."""
        while True:
            if self.lease.held():
                await self.lease.keep()
            else:
                await self.lease.acquire()
            await asyncio.sleep(min(self.settings.tick_s, self.lease.renew_every_s / 2))

    async def _run(self) -> None:
        await self.lease.acquire()
        while True:
            try:
                if self.lease.held():
                    await self.run_pass()
            except Exception:
                log.exception("fallback pass failed; trying again next tick")
            await asyncio.sleep(self.settings.tick_s)

    async def _pull_loop(self, runtime: SourceRuntime) -> None:
        while True:
            try:
                if self.lease.held() and await pull_once(runtime, self.pipeline, self.stats):
                    continue
            except ProviderError as exc:
                log.warning("pull from %s failed: %s", runtime.name, exc)
            except Exception:
                log.exception("pull from %s failed", runtime.name)
            await asyncio.sleep(self.settings.tick_s)

    # one pass ------------------------------------------------------------------------------------------

    async def run_pass(self, *, sweep: bool | None = None) -> int:
        """Sweep what is due (or everything, `sweep=True`), then query due tasks; returns queries made.

        Ends early when a query gate closes (the serving scheduler lost its lease) or the provider answers
        "rate limited" (the next pass starts again from the oldest deadline, after the pause)."""
        before = self.stats.queries
        try:
            await self._sweep_due(sweep)
            await self._serve_due()
        except QueryGateClosed as exc:
            log.warning("fallback pass stopped: %s", exc)
        return self.stats.queries - before

    async def _sweep_due(self, sweep: bool | None) -> None:
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

    async def _serve_due(self) -> None:
        limited = self.stats.rate_limited
        while True:
            due = await self.store.list_tracked(
                TrackedFilter(state=TrackState.OPEN, due_at=self.clock.now(), limit=self.settings.batch)
            )
            due = [task for task in due if task.source in self.sources]
            if not due:
                return
            listed = await self._list_running(due)
            if self.stats.rate_limited > limited:
                return
            unseen = []  # what the listings did not show running: queried one by one, oldest deadline first
            for task in due:
                shown = listed.get(task.source)
                if shown is None or task.task_id not in shown.running or not await self._seen_running(task, shown):
                    unseen.append(task)
            for task in unseen:
                await self.check(task)
                if self.stats.rate_limited > limited:
                    return
            if len(due) < self.settings.batch:
                return

    async def _list_running(self, due: Sequence[TrackedTask]) -> dict[str, Listed]:
        """Per source with enough tasks in `due` (`batch.worth_listing`), which of them its listing shows still
        running. A listing that fails leaves its tasks to task queries (and its source, for a while); a
        rate-limit answer pauses the bucket, and the caller ends the pass."""
        groups: dict[str, list[TrackedTask]] = {}
        for task in due:
            groups.setdefault(task.source, []).append(task)
        found: dict[str, Listed] = {}
        for name, tasks in groups.items():
            runtime = self.sources[name]
            now = self.clock.now()
            paused = runtime.listing_paused_until
            if (paused is not None and now < paused) or not worth_listing(len(tasks), runtime.share.value):
                continue
            try:
                found[name] = await running_among(runtime, tasks, self.stats, self.clock)
            except (QueryGateClosed, StoreUnavailable):
                raise
            except ProviderError as exc:
                self._provider_trouble(runtime, exc)
                if exc.rate_limited:
                    return found
                runtime.listing_paused_until = now + timedelta(seconds=RETRY_AFTER_S)
                log.warning(
                    "fallback: %s's status listing failed (%s); task queries only for %.0f s", name, exc, RETRY_AFTER_S
                )
            except Exception:
                self.stats.errors += 1
                runtime.listing_paused_until = now + timedelta(seconds=RETRY_AFTER_S)
                log.exception("fallback: %s's status listing failed; task queries only for %.0f s", name, RETRY_AFTER_S)
        return found

    async def _seen_running(self, task: TrackedTask, listed: Listed) -> bool:
        """A due task the listing showed still running: asked again when its age (at the listing) has doubled,
        as if a task query had said so; not counted as a query of it (`attempts`). False when it must be
        queried after all: a callback of it is held, and only a task query's answer can judge that."""
        current = await self._still_due(task)
        if current is None:
            self.stats.skipped += 1
            return True
        effects = {stored.effect for stored in await self.store.task_events(task.provider, task.task_id)}
        if Effect.HELD in effects:
            return False
        self.sources[task.source].share.note(True)
        self.stats.spared += 1
        wait = self._recheck(current, listed.at)
        await self._save_open(replace(current, last_error=None, next_check_at=listed.at + wait))
        return True

    async def check(self, task: TrackedTask) -> bool:
        """Query one tracked task and record what its answer means; False when it was not queried after all.

        `task` is the row as the caller read it: after the token wait the row is read again, and the task is
        skipped when it was closed, checked by somebody else (its attempts or next check moved) or finished
        by an event meanwhile (then it is closed here)."""
        runtime = self.sources[task.source]
        await runtime.bucket.acquire()
        current = await self._still_due(task)
        if current is None:
            self.stats.skipped += 1
            return False
        runtime.bucket.check_gate()  # the store reads above took time: the lease must still be ours
        self.stats.queries += 1
        now = self.clock.now()
        queried = replace(current, attempts=current.attempts + 1)
        try:
            answer = await runtime.api.query(task.task_id)
        except ProviderError as exc:
            self._provider_trouble(runtime, exc)
            if exc.rate_limited:  # says nothing of the task: not an attempt, and it stays due
                await self._save_open(replace(current, last_error=str(exc)))
                return True
            wait = self._backoff(queried.attempts)
            if exc.not_found:  # a callback that says this task finished is not confirmed by that (after its grace)
                await self._not_found(queried, runtime, now, str(exc), wait)
            else:
                await self._save_open(replace(queried, last_error=str(exc), next_check_at=now + wait))
            return True
        try:
            # received_at is when we asked: a held callback that arrived after it is not refuted by this answer
            applied = await self.pipeline.ingest_document(
                task.source,
                answer.document,
                answer.body,
                Origin.POLL,
                api=answer.api,
                task_id_hint=task.task_id,
                received_at=now,
            )
        except StoreUnavailable:
            raise
        except Exception as exc:  # an answer we cannot take in must not block the tasks behind it
            self.stats.errors += 1
            log.exception("fallback: the %s answer for %s could not be ingested", answer.api, task.task_id)
            retry = now + self._backoff(queried.attempts)
            await self._save_open(replace(queried, last_error=f"ingest failed: {exc}", next_check_at=retry))
            return True
        self._unconfirmed([verdict for item in applied for verdict in item.confirmations])
        alias = _answered_alias(task, applied)
        if alias is not None:  # the listener closed (or tracked) the task under the key the answer names
            await self._close_if_finished(queried, alias)
        after = await self.store.get_tracked(task.provider, task.task_id)
        runtime.share.note(after is not None and after.state is TrackState.OPEN)
        if after is not None and after.state is not TrackState.OPEN:
            await self.store.save_tracked(replace(after, attempts=queried.attempts))
            if after.state is TrackState.RECOVERED:
                self.stats.recovered += 1
                self.stats.recovery_delays_s.append(max(0.0, (now - task.deadline).total_seconds()))
            return True
        wait = self._recheck(queried, now)
        if any(item.still_held for item in applied):  # asked again sooner, for them
            held_wait = await self._held_wait(queried, now, wait)
            wait = wait if held_wait is None else held_wait
        await self._save_open(replace(queried, last_error=None, next_check_at=now + wait))
        return True

    async def _not_found(
        self, queried: TrackedTask, runtime: SourceRuntime, now: datetime, error: str, wait: timedelta
    ) -> None:
        """The provider does not know the task: its held callbacks past their grace are refused; the task is lost
        once past the provider's retention window, unless a callback of it is still held (it waits for its
        verdict, asked again as `_held_wait` says)."""
        grace_s = self.pipeline.confirm_grace_s(queried.source)
        said = f"not found ({error})"
        self._unconfirmed(await self.store.refuse_held(queried.provider, queried.task_id, now, said, grace_s=grace_s))
        runtime.share.note(False)  # not running either: a listing would not have spared this query
        held_wait = await self._held_wait(queried, now, wait)
        if held_wait is None and self._past_retention(queried, runtime, now):
            self.stats.lost += 1
            await self.store.save_tracked(replace(queried, state=TrackState.LOST, resolved_at=now, last_error=error))
            return
        wait = wait if held_wait is None else held_wait
        await self._save_open(replace(queried, last_error=error, next_check_at=now + wait))

    async def _held_wait(self, task: TrackedTask, asked_at: datetime, usual: timedelta) -> timedelta | None:
        """When to ask again about a task whose callbacks an answer asked at `asked_at` left held; None when none
        is held (then `usual` it is).

        At once for one that came in while the question was out: no answer has judged it yet. Otherwise the
        provider's answer (not finished, not found) may lag behind the callback, and the oldest held one's grace
        has not passed (`state.lagging`): the wait is the time since that callback, at least `HELD_RECHECK_S`,
        at most `usual`, and never past the end of its grace (`state.grace_ends`). A provider that catches up
        within seconds is heard from within seconds; one that does not costs a few queries, as the waits double,
        and the first answer asked after the grace settles it. "At once" is said once per callback, so it
        cannot follow "at once" without a new callback in between: no busy loop, even when a callback's
        `received_at` is ahead of this scheduler's clock (another replica's clock, running fast), which would
        otherwise look newer than every question until the clocks met."""
        key = (task.provider, task.task_id)
        events = await self.store.task_events(task.provider, task.task_id)
        held = [stored.event for stored in events if stored.effect is Effect.HELD]
        if not held:
            self._asked_again_for.pop(key, None)
            return None
        newest = max(event.received_at for event in held)
        asked_for = self._asked_again_for.get(key)
        if newest > asked_at and (asked_for is None or newest > asked_for):
            if len(self._asked_again_for) >= ASKED_AGAIN_KEPT:
                self._asked_again_for.clear()  # forgetting costs at most one more query a task
            self._asked_again_for[key] = newest
            return timedelta(0)
        oldest = min(held, key=lambda event: event.received_at)
        rest = grace_ends(oldest, self.pipeline.confirm_grace_s(task.source)) - asked_at
        if rest <= timedelta(0):  # past its grace and not judged by this answer (it named the task otherwise)
            return usual
        since = max(asked_at - oldest.received_at, timedelta(seconds=HELD_RECHECK_S))
        return min(usual, since, rest)

    async def _still_due(self, listed: TrackedTask) -> TrackedTask | None:
        """The row again, if nothing happened to it since `listed` was read; else None (closing it if its task
        finished meanwhile)."""
        current = await self.store.get_tracked(listed.provider, listed.task_id)
        if current is None or current.state is not TrackState.OPEN:
            return None
        if (current.attempts, current.next_check_at) != (listed.attempts, listed.next_check_at):
            return None  # somebody checked it (or registered it again) since: their verdict stands
        if await self._close_if_finished(current):
            return None
        return current

    async def _save_open(self, task: TrackedTask) -> None:
        """Write an open row back, then look at the task's state: a terminal event applied while our query was
        out closed the row before our write replaced it, so close it again."""
        await self.store.save_tracked(task)
        await self._close_if_finished(task)

    async def _close_if_finished(self, task: TrackedTask, key: str | None = None) -> bool:
        """Close the tracked row when the task itself is finished (a terminal event is applied before its
        listener closes the row, so this sees it first); True when it is. Not while a callback of it is held:
        our query must judge it first. `done` when a callback of it was confirmed, as the tracker says.
        `key`: the receiver's own id of the task, when the row names it otherwise (`_answered_alias`)."""
        key = key or task.task_id
        state = await self.store.get_task(task.provider, key)
        if state is None or state.status is not Status.FINISHED:
            return False
        effects = {stored.effect for stored in await self.store.task_events(task.provider, key)}
        if Effect.HELD in effects:
            return False
        recovered = state.last_origin is Origin.POLL and Effect.CONFIRMED not in effects
        verdict = TrackState.RECOVERED if recovered else TrackState.DONE
        await self.store.close_tracked([(task.provider, task.task_id)], verdict, self.clock.now())
        return True

    def _unconfirmed(self, verdicts: Sequence[Confirmation]) -> None:
        """Count the held callbacks the provider did not confirm, and say so in the log, at most once every
        `UNCONFIRMED_WARN_EVERY_S` (a flood of forged callbacks must not flood the log). The reason names the
        task and both statuses; no body, header or credential goes to the log."""
        for verdict in verdicts:
            if verdict.confirmed:
                continue
            self.stats.unconfirmed += 1
            moment = time.monotonic()
            if self._warned_at is not None and moment - self._warned_at < UNCONFIRMED_WARN_EVERY_S:
                self._unwarned += 1
                continue
            more = f" ({self._unwarned} more since the last warning)" if self._unwarned else ""
            log.warning("callback not confirmed, capture %s refused: %s%s", verdict.capture_id, verdict.reason, more)
            self._warned_at, self._unwarned = moment, 0

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

    def _recheck(self, task: TrackedTask, now: datetime) -> timedelta:
        """The wait after an answer that shows the task still running (`pacing`)."""
        return recheck_wait(task_age_s(task, now), self.settings.backoff_base_s, self.settings.backoff_max_s)

    def _backoff(self, attempts: int) -> timedelta:
        """The wait after an error or a "not found": doubling per attempt, from `backoff_base_s`."""
        seconds = self.settings.backoff_base_s * 2 ** max(0, min(attempts - 1, 20))
        return timedelta(seconds=min(seconds, self.settings.backoff_max_s))


def _answered_alias(task: TrackedTask, applied: Sequence[Applied]) -> str | None:
    """The receiver's id of the task an answer reported on, when the row tracks it under another one; else None.

    An Alibaba task registered by its TranscodeTaskId is answered as `transcode:<VideoId>`, the key every
    Alibaba report of it has (callbacks carry no TranscodeTaskId): the row must follow that task's state, or it
    never closes and is asked again forever."""
    keys = {item.task.task_id for item in applied if item.task and item.task.provider.value == task.provider}
    if task.task_id in keys or len(keys) != 1:
        return None
    return keys.pop()

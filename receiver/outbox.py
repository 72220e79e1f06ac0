"""Forwarding: which events go to which sink (the router), and a dispatcher per sink that delivers them.

The store writes outbox rows in the transaction that changes a task (receiver/store), so what is stored
is forwarded, at least once, even across a crash. Each sink has its own dispatcher: it leases due messages
(`Store.claim_outbox`), sends them, and settles the results; a sink that is down only delays its own rows.

- **Order per task**: a claim hands out a task's next message only when its earlier ones are settled;
  within a claimed batch the dispatcher sends in *waves* (the first message of each task, then the second
  of the tasks whose first went through, …), so a sink may send a wave concurrently.
- **Retries**: per-message failures retry after an exponential backoff with jitter
  (`base · 2^(n-1)`, capped at `backoff_max_s`, then drawn between half and all of it), or after the sink's
  `Retry-After`; after `max_attempts` attempts or `max_age_s`, or at once when the sink refuses the message
  for good (an HTTP 4xx), the message becomes a dead letter, which holds back nothing: the task's later
  messages carry higher versions.
- **Sink down**: an unreachable sink (`SinkDown`) releases the batch without counting attempts and pauses
  the dispatcher (the same backoff, capped at 30 s between probes), so an outage delays, never loses.
- **A sink that raises** anything else (a bug, a client library's surprise) fails that wave's messages like
  a failed delivery, instead of leaving the batch leased until its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from receiver.clock import Clock
from receiver.config import ConfigError, SinkSettings
from receiver.sinks.base import Delivery, DeliveryFailed, Sink, SinkDown
from receiver.store.base import (
    Applied,
    Effect,
    OutboxFilter,
    OutboxMessage,
    OutboxRouter,
    OutboxState,
    Settlement,
    Store,
)

log = logging.getLogger("vodhook.outbox")

_PROBE_MAX_S = 30.0
_PRUNE_EVERY_S = 60.0


# routing -------------------------------------------------------------------------------------------------


def wants(settings: SinkSettings, applied: Applied) -> bool:
    """Whether a sink forwards this stored event: its filters, and only task changes unless `every_event`."""
    if not settings.every_event and (applied.duplicate or applied.effect is not Effect.APPLIED):
        return False
    event = applied.event
    checks: tuple[tuple[Sequence[object], object], ...] = (
        (settings.sources, event.source),
        (settings.dialects, event.dialect),
        (settings.event_types, event.event_type),
        (settings.statuses, event.status),
        (settings.outcomes, event.outcome),
    )
    return all(not allowed or value in allowed for allowed, value in checks)


def build_router(sinks: Mapping[str, SinkSettings]) -> OutboxRouter:
    """The function the store calls, inside its transaction, to name the sinks an event goes to."""
    configured = dict(sinks)

    def route(applied: Applied) -> list[str]:
        return [name for name, settings in configured.items() if wants(settings, applied)]

    return route


# backoff -------------------------------------------------------------------------------------------------


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """The wait before attempt `attempt + 1`: exponential, capped, with "equal jitter" (half fixed, half random).

    Half fixed keeps a floor under the wait (no thundering retries at ~0 s); half random spreads the
    retries of messages that failed together.
    """
    ceiling = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


# the dispatcher ------------------------------------------------------------------------------------------


class Dispatcher:
    """Delivers one sink's outbox rows until stopped; independent of every other sink."""

    def __init__(
        self,
        name: str,
        settings: SinkSettings,
        sink: Sink,
        store: Store,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.sink = sink
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.delivered = 0
        self.failed = 0
        self.dead = 0
        self.down_since: datetime | None = None
        self._outages = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None

    # lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"vodhook-dispatch-{self.name}")

    def wake(self) -> None:
        """New rows may be due: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, timeout: float = 15.0) -> None:
        """Let the batch in flight finish and settle, then stop; past `timeout`, cancel it.

        A cancelled batch stays leased until its lease runs out, then goes out again (at least once).
        """
        task, self._task = self._task, None
        self._stopping = True
        self._stop.set()
        self._wake.set()
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.sink.close()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the claim: a wake during the cycle is not lost
            try:
                handled, pause = await self.run_once()
            except Exception:
                log.exception("sink %s: a dispatch cycle failed; trying again", self.name)
                handled, pause = 0, self.settings.poll_s
            if self._stopping:
                return
            if pause:  # the sink is down: wait the pause out, new rows or not
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
            elif not handled:
                await self._prune()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)

    # one cycle -----------------------------------------------------------------------------------------

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=2 * self.settings.timeout_s + 30.0)

    async def run_once(self) -> tuple[int, float]:
        """Claim, send and settle one batch; return how many messages it handled and the pause it asks for."""
        now = self.clock.now()
        batch = await self.store.claim_outbox(self.name, now, self._lease_until(now), self.settings.batch_size)
        if not batch:
            return 0, 0.0
        settlements, pause = await self._deliver(batch)
        await self.store.settle_outbox(settlements)
        return len(batch), pause

    async def _deliver(self, batch: Sequence[OutboxMessage]) -> tuple[list[Settlement], float]:
        settlements: list[Settlement] = []
        remaining = list(batch)
        blocked: set[tuple[str, str]] = set()
        while remaining:
            wave, later, seen = [], [], set()
            for message in remaining:
                key = _task_of(message)
                if key in blocked:
                    # its task's earlier message failed: release it; the claim rule holds it back meanwhile
                    settlements.append(self._release(message, None, attempted=False, after_s=0.0))
                elif key in seen:
                    later.append(message)
                else:
                    seen.add(key)
                    wave.append(message)
            remaining = later
            if not wave:
                break
            try:
                results = await self.sink.send([Delivery.of(message) for message in wave])
            except SinkDown as exc:
                pause = self._sink_down(str(exc))
                for message in [*wave, *remaining]:
                    settlements.append(self._release(message, str(exc), attempted=False, after_s=pause))
                return settlements, pause
            except Exception as exc:
                # A sink's bug, or a client library's surprise: whether the wave went out is unknown. Settle it
                # as a failed attempt (retried with backoff, a dead letter in the end) rather than leave the
                # batch leased until its lease runs out, and release the rest for the next cycle.
                log.exception("sink %s: sending raised; the batch's messages are retried", self.name)
                failure = DeliveryFailed(f"sink {self.name} raised {type(exc).__name__}: {exc}")
                settlements.extend(self._failed(message, failure) for message in wave)
                settlements.extend(self._release(message, None, attempted=False, after_s=0.0) for message in remaining)
                return settlements, self.settings.poll_s
            self._sink_up()
            for message, result in zip(wave, results, strict=True):
                if result is None:
                    self.delivered += 1
                    settlements.append(Settlement(message.id, OutboxState.DELIVERED, self.clock.now()))
                else:
                    blocked.add(_task_of(message))
                    settlements.append(self._failed(message, result))
        return settlements, 0.0

    def _failed(self, message: OutboxMessage, failure: DeliveryFailed) -> Settlement:
        self.failed += 1
        attempts = message.attempts + 1
        if failure.permanent or attempts >= self.settings.max_attempts:
            why = "refused" if failure.permanent else f"{attempts} attempts"
            return self._dead(message, f"{failure.reason} ({why})", attempted=True)
        wait = backoff_s(attempts, self.settings.backoff_base_s, self.settings.backoff_max_s, self.rng)
        if failure.retry_after_s is not None:
            wait = max(wait, failure.retry_after_s)
        return self._release(message, failure.reason, attempted=True, after_s=wait)

    def _release(self, message: OutboxMessage, error: str | None, *, attempted: bool, after_s: float) -> Settlement:
        now = self.clock.now()
        age_from = message.age_from or message.created_at or now
        if error is not None and (now - age_from).total_seconds() >= self.settings.max_age_s:
            return self._dead(message, f"{error} (older than {self.settings.max_age_s:g} s)", attempted=attempted)
        return Settlement(
            message.id,
            OutboxState.PENDING,
            now,
            next_attempt_at=now + timedelta(seconds=after_s),
            error=error,
            attempted=attempted,
        )

    def _dead(self, message: OutboxMessage, error: str, *, attempted: bool) -> Settlement:
        self.dead += 1
        log.warning(
            "sink %s: message %d (event %s) is a dead letter: %s", self.name, message.id, message.event_id, error
        )
        return Settlement(message.id, OutboxState.DEAD, self.clock.now(), error=error, attempted=attempted)

    def _sink_down(self, reason: str) -> float:
        self._outages += 1
        if self.down_since is None:
            self.down_since = self.clock.now()
            log.warning("sink %s is down: %s; its messages wait in the outbox", self.name, reason)
        cap = min(self.settings.backoff_max_s, _PROBE_MAX_S)
        return backoff_s(self._outages, self.settings.backoff_base_s, cap, self.rng)

    def _sink_up(self) -> None:
        if self.down_since is not None:
            log.warning("sink %s is back after %s", self.name, self.clock.now() - self.down_since)
        self.down_since = None
        self._outages = 0

    async def _prune(self) -> None:
        """Forget delivered rows older than `keep_delivered_s` (about once a minute)."""
        now = self.clock.now()
        if self._pruned_at is not None and (now - self._pruned_at).total_seconds() < _PRUNE_EVERY_S:
            return
        self._pruned_at = now
        before = now - timedelta(seconds=self.settings.keep_delivered_s)
        try:
            await self.store.purge_outbox(OutboxFilter(sink=self.name, state=OutboxState.DELIVERED, before=before))
        except Exception:
            log.exception("sink %s: pruning delivered messages failed", self.name)


def _task_of(message: OutboxMessage) -> tuple[str, str]:
    return (message.provider, message.task_key) if message.task_key else ("", f"#{message.id}")


# wiring --------------------------------------------------------------------------------------------------


def make_sink(name: str, settings: SinkSettings, data_dir: Path) -> Sink:
    """The sink a configuration names; raise `ConfigError` naming the setting when it cannot be built."""
    try:
        return _make_sink(name, settings, data_dir)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _make_sink(name: str, settings: SinkSettings, data_dir: Path) -> Sink:
    """(Each sink module is imported lazily: a broker's client loads only when it is used.)"""
    if settings.type == "jsonl":
        from receiver.sinks.jsonl import JsonlSink

        path = settings.path or data_dir / "sinks" / f"{name}.jsonl"
        return JsonlSink(name, path, max_bytes=settings.max_bytes, keep_files=settings.keep_files)
    if settings.type == "http":
        from receiver.sinks.http import HttpSink

        assert settings.url is not None
        return HttpSink(
            name, settings.url, keys=settings.keys, timeout_s=settings.timeout_s, concurrency=settings.concurrency
        )
    if settings.type == "redis":
        from receiver.sinks.redis_streams import RedisStreamSink

        assert settings.url is not None and settings.stream is not None
        return RedisStreamSink(
            name, settings.url, settings.stream, maxlen=settings.maxlen, timeout_s=settings.timeout_s
        )
    if settings.type == "nats":
        from receiver.sinks.nats import NatsSink

        assert settings.url is not None and settings.stream is not None and settings.subject is not None
        return NatsSink(name, settings.url, settings.stream, settings.subject, timeout_s=settings.timeout_s)
    if settings.type == "rabbitmq":
        from receiver.sinks.rabbitmq import RabbitMqSink

        assert settings.url is not None and settings.exchange is not None
        return RabbitMqSink(name, settings.url, settings.exchange, queue=settings.queue, timeout_s=settings.timeout_s)
    if settings.type == "mqtt":
        from receiver.sinks.mqtt import MqttSink

        assert settings.url is not None and settings.topic is not None
        return MqttSink(
            name,
            settings.url,
            settings.topic,
            retain=settings.retain,
            version=settings.mqtt_version,
            client_id=settings.client_id,
            timeout_s=settings.timeout_s,
        )
    raise ValueError(f"sinks.{name}.type: unknown sink type {settings.type!r}")


class Forwarding:
    """The router and every sink's dispatcher of one receiver; the app's lifespan starts and stops it."""

    def __init__(self, store: Store, sinks: Mapping[str, SinkSettings], clock: Clock, data_dir: Path) -> None:
        self.store = store
        self.settings = dict(sinks)
        self.route: OutboxRouter | None = build_router(self.settings) if self.settings else None
        self.dispatchers = [
            Dispatcher(name, settings, make_sink(name, settings, data_dir), store, clock)
            for name, settings in self.settings.items()
        ]

    def start(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.start()

    async def stop(self, timeout: float = 15.0) -> None:
        await asyncio.gather(*(dispatcher.stop(timeout) for dispatcher in self.dispatchers))

    async def on_applied(self, applied: Sequence[Applied]) -> None:
        """Pipeline listener: new outbox rows were just committed."""
        if applied:
            for dispatcher in self.dispatchers:
                dispatcher.wake()

    def wake(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.wake()

    async def pending(self) -> dict[str, int]:
        """Messages not yet delivered or dead, per sink."""
        counts = await self.store.outbox_counts()
        return {name: counts.get(name, {}).get(OutboxState.PENDING.value, 0) for name in self.settings}

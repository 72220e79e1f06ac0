"""Pushing callbacks: each provider's documented retry policy, with faults applied, outcomes in the ledger.

Policies (reference sections in brackets):
- legacy VOD: 5 s timeout; the response status and body are ignored; a timeout (or an unreachable URL) is
  re-sent twice, 3 sends at most [tencent-vod §2.1, Q17]. No interval is documented; re-sent at once.
- VOD 3.0 and MPS: undocumented; the legacy VOD behaviour is used ("VOD-derived") [tencent-vod §3.1,
  tencent-mps §7].
- Alibaba VOD: 5 s timeout; only HTTP 200 counts; 3 attempts 1 s apart; redirects are not followed
  [aliyun-vod §1].
Each callback ends exactly once in the ledger as `delivered` or `dropped`, so published == delivered +
dropped when nothing is in flight. Callbacks of one task go out in order (one after the other); a delay
fault waits before joining that line, so it can be overtaken, like a late callback in real life.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from receiver.emulator import ledger as L
from receiver.emulator.bodies import DialectBodies, Notice
from receiver.emulator.config import AckRule, Dialect, DialectConfig
from receiver.emulator.faults import CallbackPlan, invalidate, truncate
from receiver.emulator.ledger import Ledger


@dataclass(frozen=True)
class Policy:
    timeout_s: float
    attempts: int
    interval_s: float
    ack: AckRule
    source: str


POLICIES: dict[Dialect, Policy] = {
    Dialect.TENCENT_VOD_V2: Policy(5.0, 3, 0.0, "any", "tencent-vod §2.1: status ignored, 2 re-sends on timeout"),
    Dialect.TENCENT_VOD_V3: Policy(5.0, 3, 0.0, "any", "undocumented; VOD-derived (legacy policy)"),
    Dialect.TENCENT_MPS: Policy(5.0, 3, 0.0, "any", "undocumented; VOD-derived (tencent-mps §7)"),
    Dialect.ALIYUN_VOD: Policy(5.0, 3, 1.0, "200", "aliyun-vod §1: HTTP 200 only, 3 attempts 1 s apart"),
}


def policy_for(dialect: Dialect, config: DialectConfig) -> Policy:
    base = POLICIES[dialect]
    return Policy(
        timeout_s=config.timeout_s if config.timeout_s is not None else base.timeout_s,
        attempts=config.attempts if config.attempts is not None else base.attempts,
        interval_s=config.retry_interval_s if config.retry_interval_s is not None else base.interval_s,
        ack=config.ack or base.ack,
        source=base.source,
    )


def acknowledged(rule: AckRule, status: int) -> bool:
    if rule == "any":
        return True
    if rule == "2xx":
        return 200 <= status < 300
    return status == 200


@dataclass
class Publication:
    """One published callback: what it says, where it goes, and which faults it carries."""

    id: str
    seq_in_task: int
    notice: Notice
    dialect: Dialect
    url: str | None
    key: str | None
    plan: CallbackPlan
    published_at: datetime
    copies: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


class Delivery:
    """Runs pushes as asyncio tasks on the emulator's loop; `settle` waits for all of them."""

    def __init__(
        self,
        ledger: Ledger,
        bodies: dict[Dialect, DialectBodies],
        configs: Callable[[Dialect], DialectConfig],
        now: Callable[[], datetime],
        reorder_hold_s: float,
        concurrency: int = 64,
    ) -> None:
        self._ledger = ledger
        self._bodies = bodies
        self._configs = configs
        self._now = now
        self._reorder_hold_s = reorder_hold_s
        self._client: httpx.AsyncClient | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._task_locks: dict[str, asyncio.Lock] = {}
        self._held: dict[Dialect, Publication] = {}
        self._hold_timers: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)

    async def start(self) -> None:
        # No connection reuse across callbacks (each provider send is its own request), no redirects.
        self._client = httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0))
        del self._client.headers["User-Agent"]

    async def stop(self) -> None:
        await self.settle(timeout_s=0.0)
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def settle(self, timeout_s: float) -> bool:
        """Wait until no push is running (new ones spawned meanwhile included); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._running:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._running), timeout=remaining)
        return True

    # --- publishing ------------------------------------------------------------------------------------

    def push(self, publication: Publication) -> None:
        """Send (or hold back, for a reorder fault) one published callback."""
        held = self._held.pop(publication.dialect, None)
        if held is not None:
            timer = self._hold_timers.pop(held.id, None)
            if timer is not None:
                timer.cancel()
        if publication.plan.reorder:
            self._held[publication.dialect] = publication
            self._hold_timers[publication.id] = self.spawn(self._release_after_hold(publication))
            if held is not None:
                self.spawn(self._send(held))
        elif held is not None:
            self.spawn(self._send_in_order(publication, held))
        else:
            self.spawn(self._send(publication))

    async def _send_in_order(self, first: Publication, then: Publication) -> None:
        """The successor is delivered (or given up) before the held-back callback leaves."""
        await self._send(first)
        await self._send(then)

    async def _release_after_hold(self, publication: Publication) -> None:
        await asyncio.sleep(self._reorder_hold_s)
        self._hold_timers.pop(publication.id, None)
        if self._held.get(publication.dialect) is publication:
            del self._held[publication.dialect]
            self.spawn(self._send(publication))

    async def _send(self, publication: Publication) -> None:
        if publication.plan.delay_s > 0:
            await asyncio.sleep(publication.plan.delay_s)
        lock = self._task_locks.setdefault(publication.notice.task.id, asyncio.Lock())
        async with lock:
            delivered = False
            for copy in range(1, publication.copies + 1):
                delivered = await self._attempts(publication, copy) or delivered
            d = str(publication.dialect)
            if delivered:
                self._ledger.record(
                    L.DELIVERED, task_id=publication.notice.task.id, dialect=d, notification_id=publication.id
                )
            else:
                self._ledger.record(
                    L.DROPPED,
                    task_id=publication.notice.task.id,
                    dialect=d,
                    notification_id=publication.id,
                    reason="retries_exhausted",
                )

    async def _attempts(self, publication: Publication, copy: int) -> bool:
        assert self._client is not None, "Delivery.start() was not awaited"
        assert publication.url is not None
        config = self._configs(publication.dialect)
        policy = policy_for(publication.dialect, config)
        bodies = self._bodies[publication.dialect]
        for attempt in range(1, policy.attempts + 1):
            rendered = bodies.render(
                publication.notice,
                url=publication.url,
                key=publication.key,
                now=self._now(),
                corrupt=publication.plan.corrupt_signature,
            )
            body = rendered.body
            if publication.plan.truncate_body:
                body = truncate(body)
            elif publication.plan.invalid_body:
                body = invalidate(body)
            outcome: dict[str, Any] = {"attempt": attempt, "copy": copy, "url": publication.url}
            loop = asyncio.get_running_loop()
            started = loop.time()
            ok = False
            try:
                async with self._slots:
                    response = await self._client.post(
                        publication.url, content=body, headers=rendered.headers, timeout=policy.timeout_s
                    )
                ok = acknowledged(policy.ack, response.status_code)
                outcome.update(status=response.status_code, acknowledged=ok)
            except httpx.TimeoutException:
                outcome.update(status=None, error="timeout", acknowledged=False)
            except httpx.HTTPError as exc:
                outcome.update(status=None, error=f"{type(exc).__name__}: {exc}", acknowledged=False)
            outcome["elapsed_ms"] = round((loop.time() - started) * 1000, 1)
            self._ledger.record(
                L.ATTEMPT,
                task_id=publication.notice.task.id,
                dialect=str(publication.dialect),
                notification_id=publication.id,
                **outcome,
            )
            if ok:
                return True
            if attempt < policy.attempts and policy.interval_s > 0:
                await asyncio.sleep(policy.interval_s)
        return False

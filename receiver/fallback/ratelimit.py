"""The provider account's query budget: a token bucket kept in the store, so every process that queries the
same account (`vodhook serve`, `vodhook reconcile` beside it, replicas) draws from one bucket.

The bucket is a GCRA in the store (`Store.take_tokens`): a query is granted at `max(now, tat - burst/rate)`,
so in any window of W seconds all processes together are granted at most `burst + rate * W` queries, however
many tasks are overdue. Published limits (overridable per source): legacy VOD 100/min, VOD 3.0 and MPS
100/s, Alibaba 15/s.

A rate-limit answer from the provider means the account is busier than our bucket knows (someone else spends
it): pause, for every process sharing the bucket. The pause is written into the shared bucket as a
reservation, so the others' next grants move past it too; a rate-limit answer soon after a pause ended
doubles the next pause (up to `pause_max_s`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class TokenStore(Protocol):
    """What the bucket needs of the store (`Store.take_tokens`)."""

    async def take_tokens(self, bucket: str, rate: float, burst: float, n: float = 1.0) -> float: ...


class QueryGateClosed(RuntimeError):
    """The bucket's gate refused: this process may not query now (the scheduler lost its lease)."""


class AccountBucket:
    def __init__(
        self, store: TokenStore, name: str, rate_per_s: float, burst: float, *, pause_max_s: float = 60.0
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0 queries/s (got {rate_per_s!r})")
        if not burst >= 0:
            raise ValueError(f"burst must be >= 0 queries (got {burst!r})")
        self.store = store
        self.name = f"fallback:{name}"
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.pause_max_s = max(pause_max_s, self.base_pause_s)
        #: Asked before a token is taken and again after the wait, right before the query goes out; False
        #: raises QueryGateClosed. The serving scheduler sets it to "I still hold the lease".
        self.gate: Callable[[], bool] | None = None
        self.waits = 0  # how many times a query had to wait for a token
        self.waited_s = 0.0
        self.last_wait_s = 0.0
        self.pauses = 0  # rate-limit answers that paused the account
        self.pause_s = 0.0  # length of the latest pause
        self._pause_until = 0.0  # monotonic time before which nobody sharing the bucket should query
        self._unshared = False  # a pause the shared bucket has not been told of yet

    @property
    def base_pause_s(self) -> float:
        """The first pause after a rate-limit answer: long enough to refill a whole burst, at least 1 s."""
        return max(1.0, self.burst / self.rate_per_s)

    def check_gate(self) -> None:
        """Raise QueryGateClosed when the gate says no query may go out now."""
        if self.gate is not None and not self.gate():
            raise QueryGateClosed(f"{self.name}: no query may go out now (the scheduler lease is not held)")

    async def acquire(self) -> None:
        """Wait until one query may go out (the token is reserved in the shared bucket first; `last_wait_s`
        says how long the bucket asked us to wait). Raises QueryGateClosed when the gate closes before or
        during the wait."""
        self.check_gate()
        await self.share_pause()
        wait = await self.store.take_tokens(self.name, self.rate_per_s, self.burst)
        self.last_wait_s = wait
        if wait > 0:
            self.waits += 1
            self.waited_s += wait
            await asyncio.sleep(wait)
            self.check_gate()

    async def share_pause(self) -> None:
        """Write the pending pause into the shared bucket: reserve what it is worth, so every process's next
        grant comes after it (for GCRA: `remaining * rate + burst - 1` tokens push the next grant by `remaining`)."""
        if not self._unshared:
            return
        remaining = self._pause_until - time.monotonic()
        if remaining > 0:
            tokens = max(0.0, remaining * self.rate_per_s + self.burst - 1.0)
            await self.store.take_tokens(self.name, self.rate_per_s, self.burst, n=tokens)
        self._unshared = False

    def rate_limited(self) -> None:
        """The provider said "too many requests": pause (doubling when it says so again right after a pause)."""
        now = time.monotonic()
        again = self.pause_s > 0 and now < self._pause_until + self.pause_s
        self.pause_s = min(self.pause_s * 2, self.pause_max_s) if again else self.base_pause_s
        self._pause_until = max(self._pause_until, now + self.pause_s)
        self._unshared = True
        self.pauses += 1

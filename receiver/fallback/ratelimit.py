"""The provider account's query budget: a token bucket kept in the store, so every process that queries the
same account (`vodhook serve`, `vodhook reconcile` beside it, replicas) draws from one bucket.

Published limits (overridable per source): legacy VOD 100/min, VOD 3.0 and MPS 100/s, Alibaba 15/s. A
rate-limit answer from the provider means someone else spends the same account: back off for a while.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class TokenStore(Protocol):
    """What the bucket needs of the store (`Store.take_tokens`)."""

    async def take_tokens(self, bucket: str, rate: float, burst: float, n: float = 1.0) -> float: ...


class AccountBucket:
    def __init__(self, store: TokenStore, name: str, rate_per_s: float, burst: float) -> None:
        self.store = store
        self.name = f"fallback:{name}"
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.waits = 0  # how many times a query had to wait for a token
        self.waited_s = 0.0
        self._penalty_until = 0.0  # monotonic time before which we do not query (a rate-limit answer)

    async def acquire(self) -> None:
        """Wait until one query may go out; the token is reserved in the shared bucket first."""
        pause = self._penalty_until - time.monotonic()
        if pause > 0:
            self.waits += 1
            self.waited_s += pause
            await asyncio.sleep(pause)
        wait = await self.store.take_tokens(self.name, self.rate_per_s, self.burst)
        if wait > 0:
            self.waits += 1
            self.waited_s += wait
            await asyncio.sleep(wait)

    def rate_limited(self) -> None:
        """The provider said "too many requests": pause long enough to refill a whole burst."""
        self._penalty_until = max(self._penalty_until, time.monotonic() + max(1.0, self.burst / self.rate_per_s))

"""The scheduler lease as its holder sees it: held only while the holder can prove it.

The store keeps one holder per lease until `expires_at` (the time of the request + TTL). The holder counts
its lease from *before* its request went out, minus a safety margin, so it stops querying while the store
still names it the holder: nobody can have taken it over yet. The margin covers clock skew between replicas
and a query already in flight when the lease runs out. A renewal that fails (the store is down, slow)
proves nothing, so the lease simply runs out on time; a renewal refused because another holder has it ends
the lease at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from receiver.clock import Clock

log = logging.getLogger("vodhook.fallback")


class LeaseStore(Protocol):
    """What a lease needs of the store (`Store.try_acquire_lease` and friends)."""

    async def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool: ...

    async def renew_lease(self, name: str, holder: str, ttl_s: float) -> bool: ...

    async def release_lease(self, name: str, holder: str) -> None: ...


class Lease:
    """One holder's view of lease `name`. `held()` is the proof: True until `valid_until`."""

    def __init__(
        self,
        store: LeaseStore,
        name: str,
        holder: str,
        clock: Clock,
        ttl_s: float,
        *,
        margin_s: float | None = None,
        renew_every_s: float | None = None,
    ) -> None:
        self.margin_s = ttl_s / 3 if margin_s is None else margin_s
        self.renew_every_s = ttl_s / 3 if renew_every_s is None else renew_every_s
        if not ttl_s > 0:
            raise ValueError(f"lease {name!r}: ttl_s must be > 0 (got {ttl_s!r})")
        if not 0 <= self.margin_s < ttl_s:
            raise ValueError(f"lease {name!r}: margin_s must be in [0, ttl_s) (got {self.margin_s!r})")
        if not 0 < self.renew_every_s < ttl_s - self.margin_s:
            raise ValueError(
                f"lease {name!r}: renew_every_s must be in (0, ttl_s - margin_s) so a renewal comes before the"
                f" lease runs out (got {self.renew_every_s!r})"
            )
        self.store = store
        self.name = name
        self.holder = holder
        self.clock = clock
        self.ttl_s = ttl_s
        self.valid_until: datetime | None = None  # None: not held
        self.proven_at: datetime | None = None  # when the latest successful request went out
        self.engaged = False  # held at least once (stop() gives it back)
        self.failures = 0  # requests that could not reach the store
        self._busy = False

    def held(self) -> bool:
        """True while this holder can prove the lease is its own (and the margin has not begun)."""
        return self.valid_until is not None and self.clock.now() < self.valid_until

    async def acquire(self) -> bool:
        """Take the lease (free or expired) or renew it (ours); True while held afterwards."""
        return await self._ask(self.store.try_acquire_lease)

    async def keep(self) -> bool:
        """Renew the lease when `renew_every_s` has passed since the last proof; True while held."""
        if not self.held():
            return False
        assert self.proven_at is not None
        if (self.clock.now() - self.proven_at).total_seconds() < self.renew_every_s:
            return True
        return await self._ask(self.store.renew_lease)

    async def release(self) -> None:
        """Stop holding it, and give it back in the store (if it is still ours) so a successor need not wait."""
        self.valid_until = None
        if self.engaged:
            await self.store.release_lease(self.name, self.holder)

    async def _ask(self, request: Callable[[str, str, float], Awaitable[bool]]) -> bool:
        if self._busy:  # one request at a time: a late answer must not overwrite a newer one
            return self.held()
        self._busy = True
        started = self.clock.now()
        try:
            won = await request(self.name, self.holder, self.ttl_s)
        except Exception as exc:  # the store is down or slow: no proof either way, the lease runs out on time
            self.failures += 1
            log.warning(
                "lease %s: could not reach the store (%s); held until %s at most",
                self.name,
                exc,
                self.valid_until.isoformat() if self.held() and self.valid_until else "now",
            )
            return self.held()
        finally:
            self._busy = False
        if won:
            self.proven_at = started
            self.valid_until = started + timedelta(seconds=self.ttl_s - self.margin_s)
            self.engaged = True
        elif self.valid_until is not None:
            log.warning("lease %s: another holder has it; %s stops", self.name, self.holder)
            self.valid_until = None
        return self.held()

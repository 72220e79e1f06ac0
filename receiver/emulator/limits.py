"""Rate limits (on the emulator clock) and nonce memory (on the wall clock), per the providers' documents.

Rate limits: legacy VOD 100 calls/min per query API and 1000/min for PullEvent/ConfirmEvent; VOD 3.0 and
MPS 100 calls/s; Alibaba 15 calls/s. Counted per (dialect, action, secret id) in a sliding window of
emulator time, so moving the clock frees the budget and a frozen clock keeps it spent.
Nonces are remembered for the signature tolerance window, measured on the wall clock the clients sign with.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from receiver.emulator.config import Dialect


@dataclass(frozen=True)
class Limit:
    calls: int
    per_s: float


LEGACY_QUERY = Limit(100, 60.0)
LEGACY_EVENTS = Limit(1000, 60.0)
API3 = Limit(100, 1.0)
ALIYUN = Limit(15, 1.0)


def limit_for(dialect: Dialect, action: str) -> Limit:
    if dialect is Dialect.TENCENT_VOD_V2:
        return LEGACY_EVENTS if action in ("PullEvent", "ConfirmEvent") else LEGACY_QUERY
    if dialect is Dialect.ALIYUN_VOD:
        return ALIYUN
    return API3


class RateLimiter:
    """Sliding-window call counter; `allow` both checks and counts an accepted call."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str, str], deque[datetime]] = {}

    def allow(self, dialect: Dialect, action: str, caller: str, now: datetime) -> bool:
        limit = limit_for(dialect, action)
        window = self._calls.setdefault((str(dialect), action, caller), deque())
        horizon = now - timedelta(seconds=limit.per_s)
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= limit.calls:
            return False
        window.append(now)
        return True


class NonceMemory:
    """Remembers (caller, nonce) pairs until they would be refused as stale anyway."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], datetime] = {}

    def first_use(self, scope: str, caller: str, nonce: str, now: datetime, keep_s: float) -> bool:
        if len(self._seen) > 10_000:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        key = (scope, caller, nonce)
        expiry = self._seen.get(key)
        if expiry is not None and expiry > now:
            return False
        self._seen[key] = now + timedelta(seconds=keep_s)
        return True

"""What the fallback keeps per configured source at run time, and the counters behind /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from receiver.fallback.batch import RunningShare
from receiver.fallback.providers import ProviderApi
from receiver.fallback.ratelimit import AccountBucket


@dataclass
class SourceRuntime:
    name: str
    dialect: str
    api: ProviderApi
    bucket: AccountBucket
    share: RunningShare = field(default_factory=RunningShare)  # of its checks, found still running (`batch`)
    listing_paused_until: datetime | None = None  # a status listing failed: task queries only until then

    def __post_init__(self) -> None:
        # A query that takes more than one request (Alibaba: ListTranscodeTask, then GetTranscodeTask) pays
        # for the others from the same bucket as the first.
        self.api.pace = self.bucket.acquire


@dataclass
class Stats:
    queries: int = 0  # every provider request: task queries and listing pages
    listings: int = 0  # ... of which status listings, before the task queries of a batch (`batch`)
    spared: int = 0  # due tasks such a listing showed still running: no task query for them
    recovered: int = 0  # tasks whose terminal event only our query brought
    unconfirmed: int = 0  # held callbacks (a source with `confirm`) our query did not confirm
    lost: int = 0
    rate_limited: int = 0  # the provider's rate-limit answers
    discovered: int = 0  # tasks the sweep found that we never heard of
    pulled: int = 0
    errors: int = 0
    skipped: int = 0  # due tasks not queried after all: closed or checked by somebody else while we waited
    recovery_delays_s: list[float] = field(default_factory=list)  # deadline → recovery, per recovered task

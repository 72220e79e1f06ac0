"""The store contract: what the pipeline, the API and the CLI need from any backend (SQLite, PostgreSQL).

Every backend passes the same test suite (tests/store/). Writes that must be durable before the provider
gets its answer (`capture`) return only after the commit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from receiver.model import Event, Origin, Task


class StoreUnavailable(RuntimeError):
    """The store cannot take writes now (down, locked, disk full): callbacks answer 503."""


class NewerSchema(RuntimeError):
    """The data dir was written by a newer vodhook; refuse to touch it rather than lose anything."""


class CaptureState(StrEnum):
    PENDING = "pending"  # durable, not yet normalized: startup re-drives these
    PROCESSED = "processed"
    QUARANTINED = "quarantined"  # could not be identified; kept with the error, re-runnable
    REFUSED = "refused"  # failed verification; kept, re-runnable once the key is fixed


class Effect(StrEnum):
    """What an event did to its task."""

    APPLIED = "applied"  # the task changed; version grew
    SAME_TRANSITION = "same_transition"  # a transition already made (e.g. a poll repeating a callback)
    STALE = "stale"  # older than what the task holds: stored, changes nothing
    INFO = "info"  # no status (an unknown event type): attached to its task's timeline, changes nothing
    NO_TASK = "no_task"  # an event with neither task nor media id
    # A source with `confirm` set (receiver/config.py) does not believe a terminal callback on its word:
    HELD = "held"  # a terminal callback kept until the provider confirms it: task unchanged, nothing forwarded
    CONFIRMED = "confirmed"  # held, then the provider agreed: its answer's event is the one applied
    UNCONFIRMED = "unconfirmed"  # held, and the provider's answer said otherwise: never applied, capture refused


#: Effects of an event that has not changed its task *yet*: a later apply of the same event (the provider's
#: answer with identical content, or `vodhook reprocess`) merges it again instead of treating it as a duplicate.
UNSETTLED = frozenset({Effect.HELD, Effect.UNCONFIRMED})


@dataclass(frozen=True)
class NewCapture:
    """A raw request to keep, exactly as received."""

    source: str
    dialect: str
    received_at: datetime
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    remote: str | None
    verification: str
    verification_reason: str | None = None
    origin: Origin = Origin.CALLBACK

    @property
    def refused(self) -> bool:
        return self.verification == "refused"


@dataclass(frozen=True)
class Capture(NewCapture):
    id: int = 0
    state: CaptureState = CaptureState.PENDING
    error: str | None = None
    event_ids: tuple[str, ...] = ()
    processed_at: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """An oversized request: its headers, its size and the first bytes of its body."""

    source: str
    received_at: datetime
    remote: str | None
    reason: str
    headers: dict[str, str]
    body_size: int
    body_head: bytes
    id: int = 0


@dataclass(frozen=True)
class Backlog:
    """Captures waiting or set aside, and outbox messages waiting or given up on (`Store.backlog`)."""

    #: Captures by state, for the states in `BACKLOG_CAPTURE_STATES` (each present, 0 when none).
    captures: dict[str, int]
    #: `{(sink, state): count}` for outbox messages in the states in `BACKLOG_OUTBOX_STATES`.
    outbox: dict[tuple[str, str], int]


@dataclass(frozen=True)
class Processed:
    """The result of normalizing one capture: its events, or the error that quarantines it."""

    capture_id: int
    events: Sequence[Event] = ()
    error: str | None = None
    #: Hold this capture's terminal events until the provider confirms them (`Effect.HELD`): set for the
    #: callbacks of a source with `confirm` (the pipeline decides; the store only obeys).
    hold: bool = False
    #: For a query answer: the asking source's `confirm_grace_s`. An answer asked less than this long after a
    #: held callback arrived that says its task is not finished leaves it held (`state.judge_held`); 0 refutes
    #: it at once.
    confirm_grace_s: float = 0.0


@dataclass(frozen=True)
class Confirmation:
    """What a trusted report of a task (a query answer, or a pulled event) made of one of its held callbacks."""

    event_id: str
    capture_id: int | None
    effect: Effect  # CONFIRMED or UNCONFIRMED
    reason: str | None = None  # for UNCONFIRMED: names the task, what the callback claimed and what is so

    @property
    def confirmed(self) -> bool:
        return self.effect is Effect.CONFIRMED


@dataclass(frozen=True)
class Applied:
    """What storing one event did."""

    event: Event
    duplicate: bool
    effect: Effect
    task: Task | None
    #: On the last event of a task in a query answer or pull: its held callbacks that report judged.
    confirmations: tuple[Confirmation, ...] = ()
    #: ... and how many it left held (a query asked before they arrived or within their grace, or a pull that
    #: does not settle them): the task must stay tracked and be asked again.
    still_held: int = 0


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event: Event
    effect: Effect


@dataclass(frozen=True)
class EventFilter:
    source: str | None = None
    provider: str | None = None
    task_id: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None  # cursor: only events older than this
    limit: int = 100


@dataclass(frozen=True)
class CaptureFilter:
    source: str | None = None
    state: CaptureState | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    after_id: int | None = None
    limit: int = 100


#: Chooses the sinks an applied event is forwarded to; called inside the storing transaction.
OutboxRouter = Callable[[Applied], Sequence[str]]


@dataclass
class OutboxMessage:
    id: int
    sink: str
    event_id: str
    provider: str
    task_key: str | None
    version: int | None
    message: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: A re-send asked for by `redeliver` (a new delivery id, the same event id).
    redelivery: bool = False
    #: Where `max_age` counts from: when the message entered the outbox, or was last retried by hand.
    age_from: datetime | None = None
    delivered_at: datetime | None = None
    dead_at: datetime | None = None

    @property
    def delivery_id(self) -> str:
        """Identifies this delivery (the outbox row), unlike `event_id`, which every re-send shares."""
        return str(self.id)


class OutboxState(StrEnum):
    PENDING = "pending"  # waiting for its first attempt, or for a retry at `next_attempt_at`
    DELIVERED = "delivered"  # the sink acknowledged it; kept for a while for `outbox list`
    DEAD = "dead"  # gave up (too many attempts, too old, or refused for good): `outbox retry` re-queues it


#: What `Store.backlog` counts: the states that stay small in a healthy store.
BACKLOG_CAPTURE_STATES = ("pending", "quarantined", "refused")
BACKLOG_OUTBOX_STATES = ("pending", "dead")


@dataclass(frozen=True)
class Settlement:
    """What one delivery attempt (or a release without one) did to an outbox message."""

    id: int
    state: OutboxState
    at: datetime
    next_attempt_at: datetime | None = None  # for PENDING: when to try again
    error: str | None = None
    attempted: bool = True  # False: released unsent (the sink was down): attempts do not grow


@dataclass(frozen=True)
class OutboxFilter:
    sink: str | None = None
    state: OutboxState | None = None
    ids: Sequence[int] | None = None
    task_key: str | None = None
    event_id: str | None = None
    before: datetime | None = None  # created before this time
    before_id: int | None = None  # cursor: only rows older than this
    limit: int = 100


class TrackState(StrEnum):
    """Where the fallback stands with a task it tracks (receiver/fallback/)."""

    OPEN = "open"  # no terminal event yet: queried once its deadline passes
    DONE = "done"  # a callback (or pull) brought its terminal event
    RECOVERED = "recovered"  # a query of ours brought its terminal event: a callback was missed
    LOST = "lost"  # the provider no longer knows it (not found, past its retention window)


@dataclass(frozen=True)
class TrackedTask:
    """A task the fallback watches: when it is due (`deadline`), when to ask next, what it learned."""

    provider: str
    task_id: str
    source: str
    deadline: datetime
    next_check_at: datetime
    tracked_at: datetime
    via: str = "event"  # how it became tracked: event | user | sweep
    task_kind: str | None = None
    created_at: datetime | None = None  # the provider's creation time, when known (the retention guard)
    state: TrackState = TrackState.OPEN
    attempts: int = 0  # queries made for it
    last_error: str | None = None
    resolved_at: datetime | None = None


def confirm_tracked(event: Event, now: datetime) -> TrackedTask:
    """The tracked row of a held event's task when it has none: open, due now and with its deadline now (a
    callback says the task is finished), `via="confirm"`. A task already tracked keeps its row, reopened and
    due now."""
    assert event.task_key is not None
    return TrackedTask(
        provider=event.provider.value,
        task_id=event.task_key,
        source=event.source,
        deadline=now,
        next_check_at=now,
        tracked_at=now,
        via="confirm",
        task_kind=event.task_kind.value if event.task_kind else None,
    )


@dataclass(frozen=True)
class TrackedFilter:
    state: TrackState | None = None
    due_at: datetime | None = None  # only those whose next_check_at <= this
    overdue_at: datetime | None = None  # only those whose deadline <= this
    source: str | None = None
    limit: int = 100


#: How long a receiver holds the pending captures it took (`Store.claim_captures`) before another may take
#: them over; a receiver that dies mid-way leaves its captures to the others after this long.
CAPTURE_LEASE_S = 30.0


def check_bucket(rate: float, burst: float, n: float) -> None:
    """Refuse token-bucket arguments that make no bucket (`Store.take_tokens`), naming the bad value."""
    if not rate > 0:
        raise ValueError(f"take_tokens: rate must be > 0 tokens/s (got {rate!r})")
    if not burst >= 0:
        raise ValueError(f"take_tokens: burst must be >= 0 tokens (got {burst!r})")
    if not n >= 0:
        raise ValueError(f"take_tokens: n must be >= 0 tokens (got {n!r})")


class Store(ABC):
    """A durable home for captures, events, task states and the outbox."""

    #: True when several receivers may share this store at once (PostgreSQL): each processes the captures it
    #: holds, and looks from time to time for pending captures whose holder's lease ran out.
    shared: ClassVar[bool] = False

    @abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema forward; raise `NewerSchema` for a newer data dir."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers (readiness)."""

    # writes --------------------------------------------------------------------------------------------

    @abstractmethod
    async def capture(self, capture: NewCapture) -> int:
        """Keep a raw request durably; return its id only after the commit.

        Refused captures count against the refusal caps: the oldest ones beyond them are deleted.
        """

    @abstractmethod
    async def refuse(self, refusal: Refusal) -> None:
        """Keep a record of an oversized request (capped like refused captures)."""

    @abstractmethod
    async def apply(self, results: Sequence[Processed], route: OutboxRouter | None = None) -> list[list[Applied]]:
        """Store normalization results in one transaction.

        For each event: insert it unless its `event_id` is known (dedup), merge it into its task (forward
        only), add outbox rows for the sinks `route` names, and mark the capture
        processed (or quarantined with the error). `route` is asked about every event, duplicates included
        (`Applied.duplicate`): it decides what is forwarded (most sinks take only `Effect.APPLIED`).

        Confirmation (`Processed.hold`, `state.judge_held`), in the same transaction:
        - an event of a holding result that would finish its task (merge says APPLIED with status finished)
          is stored `Effect.HELD` instead: the task is left as it is, `route` is not asked, and the task's
          tracked row becomes open and due now (inserted `via="confirm"`, deadline now, when there is none);
        - a known event whose effect is in `UNSETTLED` is not a duplicate but merged again (and its row's
          effect rewritten), unless it is HELD and this result holds it again (a retried callback);
        - after a result of origin poll or pull, every held event of each task it reported is judged against
          the task's state: CONFIRMED, UNCONFIRMED (a query answer asked after it arrived that disagrees: the
          held event's capture becomes refused with the reason as its error) or left held; the verdicts go on
          the last `Applied` of that task (`confirmations`, `still_held`). A query answer that the task is
          finished otherwise refutes at once; one that it is not finished only when asked
          `Processed.confirm_grace_s` or more after the held event arrived (the provider's task API may lag
          behind its callback): before that, the event stays held and the scheduler asks again soon.
        """

    @abstractmethod
    async def refuse_held(
        self, provider: str, task_id: str, asked_at: datetime, said: str, *, grace_s: float = 0.0
    ) -> list[Confirmation]:
        """The provider's answer about a task brought no event (e.g. "not found"): its callbacks held since at
        least `grace_s` before `asked_at` are UNCONFIRMED, their captures refused with
        `state.unconfirmed_reason(held, said, grace_s)` (`state.judge_unanswered`). The others stay held: they
        arrived after the question, or the provider may not have indexed the task yet."""

    @abstractmethod
    async def reset_captures(self, capture_ids: Sequence[int]) -> None:
        """Mark captures pending again, e.g. to reprocess quarantined or refused ones."""

    @abstractmethod
    async def import_capture(self, capture: NewCapture) -> int | None:
        """Keep a capture exported by another instance as it was: its received_at, headers, body, verification.

        It becomes pending (refused when its verification was refused), like a fresh ingest. Returns its new
        id, or None when an identical capture (same source, received_at, method, path, query, headers and
        body) is already here, so importing a file twice changes nothing.
        """

    @abstractmethod
    async def prune_captures(self, older_than: datetime | None = None, max_bytes: int | None = None) -> int:
        """Retention: delete captures received before `older_than`, then the oldest ones until their bodies
        total at most `max_bytes`. Pending captures (not yet processed) are never deleted; events keep their
        `capture_id`. Returns how many were deleted."""

    # reads ---------------------------------------------------------------------------------------------

    @abstractmethod
    async def pending_captures(self, limit: int = 500, after_id: int = 0) -> list[Capture]: ...

    @abstractmethod
    async def get_capture(self, capture_id: int) -> Capture | None: ...

    @abstractmethod
    async def list_captures(self, filt: CaptureFilter) -> list[Capture]: ...

    @abstractmethod
    async def list_refusals(self, limit: int = 100) -> list[Refusal]: ...

    @abstractmethod
    async def list_events(self, filt: EventFilter) -> list[StoredEvent]: ...

    @abstractmethod
    async def get_event(self, event_id: str) -> StoredEvent | None: ...

    @abstractmethod
    async def get_task(self, provider: str, task_id: str) -> Task | None: ...

    @abstractmethod
    async def task_events(self, provider: str, task_id: str) -> list[StoredEvent]:
        """A task's events in the order they were stored."""

    @abstractmethod
    async def counts(self) -> dict[str, int]:
        """Counters for metrics and the benchmark: captures by state, events, tasks."""

    @abstractmethod
    async def backlog(self) -> Backlog:
        """What waits or went wrong, for `/metrics`: cheap enough to scrape every few seconds on a store kept for
        months, because it never counts processed captures or delivered messages (index ranges only)."""

    # several receivers on one store --------------------------------------------------------------------

    @abstractmethod
    async def claim_captures(
        self, limit: int = 500, after_id: int = 0, lease_s: float = CAPTURE_LEASE_S
    ) -> list[Capture]:
        """Pending captures (id > `after_id`, oldest first) for this store's receiver to process now.

        Takes those no receiver holds, those whose holder's lease ran out (it died mid-way) and those this
        receiver already holds, and leases them to it for `lease_s`: each capture is processed by one
        receiver at a time. A capture this receiver just captured is already its own. A store that only
        one process opens (SQLite) returns every pending capture.
        """

    @abstractmethod
    async def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Hold lease `name` (e.g. "scheduler") for `holder` until now + `ttl_s`, if it is free, expired or
        already `holder`'s (which renews it). True when `holder` holds it now: run the singleton work."""

    @abstractmethod
    async def renew_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Extend `holder`'s lease to now + `ttl_s`; False when another holder has it (stop the work)."""

    @abstractmethod
    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (a clean shutdown), so another holder need not wait for it to expire."""

    @abstractmethod
    async def lease_holder(self, name: str) -> str | None:
        """Who holds lease `name` now; None when it is free or expired."""

    @abstractmethod
    async def take_tokens(self, bucket: str, rate: float, burst: float, n: float = 1.0) -> float:
        """Reserve `n` tokens of the shared token bucket `bucket` (refilled at `rate` per second, holding at
        most `burst`); return how many seconds the caller must wait before using them (0.0: now).

        The reservation is taken whatever the wait (a GCRA), so callers that all honour their waits, in any
        number of processes, together never go faster than `rate` beyond the first `burst`.
        """

    # the outbox (receiver/outbox.py delivers it) ---------------------------------------------------------
    # Ordering contract: messages of one (sink, provider, task_key) are delivered in `id` order. A backend
    # hands out the next message of a task only when no earlier one of that task is pending and leased or
    # waiting for a retry; dead and delivered messages hold nothing back. Rows with no task_key are free.

    @abstractmethod
    async def claim_outbox(self, sink: str, now: datetime, lease_until: datetime, limit: int) -> list[OutboxMessage]:
        """Lease up to `limit` due pending messages of `sink`, oldest first, and return them.

        Due: `next_attempt_at <= now`, and no earlier pending message of the same task has
        `next_attempt_at > now` (in a retry wait, or leased by another claim). Claiming sets
        `next_attempt_at = lease_until`, so a crashed dispatcher's messages come due again by themselves
        (at least once), and two dispatchers never hold the same message or two messages of one task.
        Returns rows in `id` order.
        """

    @abstractmethod
    async def settle_outbox(self, settlements: Sequence[Settlement]) -> None:
        """Record the results of delivery attempts, in one transaction.

        DELIVERED sets `delivered_at`; PENDING sets `next_attempt_at` (a retry, or a release); DEAD sets
        `dead_at`. `last_error` takes `error` when given; `attempts` grows by one when `attempted`.
        """

    @abstractmethod
    async def list_outbox(self, filt: OutboxFilter) -> list[OutboxMessage]:
        """Outbox rows matching the filter, newest first (`id` descending)."""

    @abstractmethod
    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        """`{sink: {state: count}}` for every sink with rows (metrics, `outbox list`, the benchmark)."""

    @abstractmethod
    async def retry_outbox(self, filt: OutboxFilter, now: datetime) -> int:
        """Re-queue dead letters matching the filter (its `state` is ignored: only dead rows move).

        They become pending, due now, with `attempts = 0` and `age_from = now`, keeping their id, event and
        message. Returns how many moved.
        """

    @abstractmethod
    async def purge_outbox(self, filt: OutboxFilter) -> int:
        """Delete rows matching the filter; `state` must be DEAD or DELIVERED (pending rows are never purged)."""

    @abstractmethod
    async def redeliver(self, sink: str, filt: EventFilter, now: datetime) -> int:
        """Queue stored events matching `filt` (all of them, oldest first; `limit` caps the count) to `sink` again.

        Each gets a new outbox row (a new delivery id, `redelivery = True`) with the same event id. The
        message is the one first built for the event when an outbox row of it still exists, otherwise it is
        built from the event and its task's current state. Returns how many were queued.
        """

    # the fallback's tracking (receiver/fallback/) ----------------------------------------------------------

    @abstractmethod
    async def track_tasks(self, tasks: Sequence[TrackedTask]) -> int:
        """Start tracking tasks not tracked yet (a task already tracked keeps its row); return how many are new."""

    @abstractmethod
    async def save_tracked(self, task: TrackedTask) -> None:
        """Write a tracked task's whole row (insert or replace): the scheduler's verdict after a query."""

    @abstractmethod
    async def get_tracked(self, provider: str, task_id: str) -> TrackedTask | None: ...

    @abstractmethod
    async def list_tracked(self, filt: TrackedFilter) -> list[TrackedTask]:
        """Tracked tasks matching the filter, oldest deadline first (the order the scheduler serves them)."""

    @abstractmethod
    async def close_tracked(self, keys: Sequence[tuple[str, str]], state: TrackState, at: datetime) -> int:
        """Move open tracked tasks `(provider, task_id)` to `state` (their terminal event arrived); others stay.
        Returns how many moved."""

    @abstractmethod
    async def tracked_counts(self, now: datetime) -> dict[str, int]:
        """`{state: count}` for every TrackState, plus `overdue`: open ones whose deadline is before `now`."""

    @abstractmethod
    async def get_cursor(self, name: str) -> str | None:
        """A named cursor (e.g. the fallback sweep's position in a provider's task listing)."""

    @abstractmethod
    async def set_cursor(self, name: str, value: str | None) -> None:
        """Keep a named cursor durably (None forgets it)."""

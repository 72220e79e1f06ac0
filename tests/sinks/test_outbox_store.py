"""The outbox part of the Store contract (claim order, leases, settling, dead letters, redelivery), on SQLite.

Written against the `Store` ABC only, so another backend can run the same cases by adding itself to the
`store` fixture's parameters.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from receiver.clock import ManualClock
from receiver.config import SinkSettings
from receiver.model import Event, Origin, Provider, Status
from receiver.outbox import Dispatcher, build_router
from receiver.sinks.base import Delivery, SendResult, Sink
from receiver.store.base import (
    EventFilter,
    NewCapture,
    OutboxFilter,
    OutboxState,
    Processed,
    Settlement,
    Store,
)
from receiver.store.sqlite import SqliteStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
ROUTE = build_router({"s": SinkSettings(), "t": SinkSettings(statuses=[Status.FINISHED])})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = SqliteStore(tmp_path / "vodhook.sqlite3", clock=ManualClock(T0))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def event(task: str | None, status: Status, n: int = 0) -> Event:
    return Event.build(
        provider=Provider.TENCENT_VOD,
        dialect="tencent-vod-v2",
        source="tencent-vod-v2",
        origin=Origin.CALLBACK,
        event_type="ProcedureStateChanged",
        task_id=task,
        media_id=None if task else f"file-{n}",
        status=status,
        provider_status=f"{status.value}-{n}",
        received_at=T0,
    )


async def ingest(store: Store, events: Sequence[Event]) -> None:
    capture_id = await store.capture(
        NewCapture(
            source="tencent-vod-v2",
            dialect="tencent-vod-v2",
            received_at=T0,
            method="POST",
            path="/callbacks/tencent-vod-v2",
            query="",
            headers={},
            body=b"{}",
            remote=None,
            verification="unsigned",
        )
    )
    await store.apply([Processed(capture_id, events=events)], ROUTE)


def ids_of(messages: Sequence[object]) -> list[int]:
    return [m.id for m in messages]  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_the_router_decides_per_sink_in_the_storing_transaction(store: Store) -> None:
    await ingest(store, [event("a", Status.WAITING), event("a", Status.FINISHED)])
    await ingest(store, [event("a", Status.FINISHED)])  # a duplicate: no sink asked for every event
    counts = await store.outbox_counts()
    assert counts == {"s": {"pending": 2}, "t": {"pending": 1}}


@pytest.mark.anyio
async def test_a_claim_hands_out_a_task_in_order_and_never_twice(store: Store) -> None:
    await ingest(store, [event("a", Status.WAITING), event("b", Status.WAITING), event("a", Status.PROCESSING)])
    await ingest(store, [event(None, Status.FINISHED, 1), event(None, Status.FINISHED, 2)])
    first = await store.claim_outbox("s", T0, T0 + LEASE, limit=10)
    assert [(m.task_key, m.version) for m in first] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("media:file-1", 1),
        ("media:file-2", 1),
    ]
    assert all(m.next_attempt_at == T0 + LEASE for m in first)
    assert await store.claim_outbox("s", T0, T0 + LEASE, limit=10) == []  # all leased

    # a's first message fails and waits for a retry: a's second is released but must wait behind it
    retry_at = T0 + timedelta(seconds=5)
    a1, b1, a2, m1, m2 = first
    await store.settle_outbox(
        [
            Settlement(a1.id, OutboxState.PENDING, T0, next_attempt_at=retry_at, error="HTTP 503"),
            Settlement(a2.id, OutboxState.PENDING, T0, next_attempt_at=T0, attempted=False),
            Settlement(b1.id, OutboxState.DELIVERED, T0),
            Settlement(m1.id, OutboxState.DELIVERED, T0),
            Settlement(m2.id, OutboxState.DEAD, T0, error="refused"),
        ]
    )
    assert await store.claim_outbox("s", T0 + timedelta(seconds=1), T0 + LEASE, limit=10) == []
    later = await store.claim_outbox("s", retry_at, retry_at + LEASE, limit=10)
    assert ids_of(later) == [a1.id, a2.id]
    assert later[0].attempts == 1 and later[0].last_error == "HTTP 503" and later[1].attempts == 0


@pytest.mark.anyio
async def test_an_expired_lease_comes_due_again(store: Store) -> None:
    await ingest(store, [event("a", Status.WAITING)])
    [claimed] = await store.claim_outbox("s", T0, T0 + LEASE, limit=10)
    assert await store.claim_outbox("s", T0 + LEASE - timedelta(seconds=1), T0 + 2 * LEASE, limit=10) == []
    [again] = await store.claim_outbox("s", T0 + LEASE, T0 + 2 * LEASE, limit=10)
    assert again.id == claimed.id


@pytest.mark.anyio
async def test_a_dead_letter_holds_back_nothing_and_can_be_retried(store: Store) -> None:
    await ingest(store, [event("a", Status.WAITING), event("a", Status.PROCESSING)])
    [first] = await store.claim_outbox("s", T0, T0 + LEASE, limit=1)
    await store.settle_outbox([Settlement(first.id, OutboxState.DEAD, T0, error="HTTP 400 (refused)")])
    [second] = await store.claim_outbox("s", T0, T0 + LEASE, limit=10)
    assert second.version == 2
    await store.settle_outbox([Settlement(second.id, OutboxState.DELIVERED, T0)])

    [dead] = await store.list_outbox(OutboxFilter(sink="s", state=OutboxState.DEAD))
    assert dead.id == first.id and dead.attempts == 1 and dead.dead_at == T0
    later = T0 + timedelta(hours=1)
    assert await store.retry_outbox(OutboxFilter(sink="t"), later) == 0
    assert await store.retry_outbox(OutboxFilter(sink="s"), later) == 1
    [retried] = await store.claim_outbox("s", later, later + LEASE, limit=10)
    assert retried.id == first.id and retried.attempts == 0 and retried.age_from == later


@pytest.mark.anyio
async def test_purge_removes_only_dead_or_delivered_rows(store: Store) -> None:
    await ingest(store, [event("a", Status.WAITING), event("b", Status.WAITING)])
    a, b = await store.claim_outbox("s", T0, T0 + LEASE, limit=10)
    await store.settle_outbox([Settlement(a.id, OutboxState.DEAD, T0, error="x")])
    with pytest.raises(ValueError, match="state"):
        await store.purge_outbox(OutboxFilter(sink="s"))
    assert await store.purge_outbox(OutboxFilter(sink="s", state=OutboxState.DELIVERED)) == 0
    assert await store.purge_outbox(OutboxFilter(sink="s", state=OutboxState.DEAD, ids=[a.id, b.id])) == 1
    assert (await store.outbox_counts())["s"] == {"pending": 1}


@pytest.mark.anyio
async def test_redelivery_queues_the_first_message_again_with_a_new_delivery_id(store: Store) -> None:
    await ingest(store, [event("a", Status.WAITING), event("a", Status.FINISHED), event("b", Status.WAITING)])
    originals = await store.claim_outbox("s", T0, T0 + LEASE, limit=10)
    await store.settle_outbox([Settlement(m.id, OutboxState.DELIVERED, T0) for m in originals])
    # sink "t" only took a's finish; redelivering a to it sends both a's events (a re-feed ignores filters)
    assert await store.redeliver("t", EventFilter(task_id="a", limit=1000), T0) == 2
    again = await store.claim_outbox("t", T0, T0 + LEASE, limit=10)
    assert [m.redelivery for m in again] == [False, True, True]
    resent = again[1:]
    by_event = {m.event_id: m for m in originals}
    for message in resent:
        assert message.message == by_event[message.event_id].message
        assert message.delivery_id not in {m.delivery_id for m in originals}
    assert [m.version for m in resent] == [1, 2]


class _RaisingSink(Sink):
    """A sink whose client library raised something it did not turn into a result (a bug, a surprise)."""

    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        raise StopAsyncIteration  # what aio-pika's connect raised on uvloop against a closing peer

    async def close(self) -> None:
        pass


@pytest.mark.anyio
async def test_a_sink_that_raises_fails_the_wave_and_leaves_nothing_leased(store: Store) -> None:
    await ingest(store, [event("a", Status.WAITING), event("a", Status.PROCESSING), event("b", Status.WAITING)])
    clock = ManualClock(T0)
    settings = SinkSettings(backoff_base_s=5.0, backoff_max_s=5.0)
    dispatcher = Dispatcher("s", settings, _RaisingSink("s"), store, clock, random.Random(7))
    handled, _ = await dispatcher.run_once()
    assert handled == 3
    messages = {(m.task_key, m.version): m for m in await store.list_outbox(OutboxFilter(sink="s"))}
    # the wave (each task's first message) failed as one attempt, with the exception named
    for key in (("a", 1), ("b", 1)):
        assert messages[key].attempts == 1
        assert messages[key].last_error == "sink s raised StopAsyncIteration: "
        assert messages[key].next_attempt_at is not None and messages[key].next_attempt_at > T0  # backoff
    # a's second message was released untried, not left leased for the lease's 60 s and more
    assert messages[("a", 2)].attempts == 0 and messages[("a", 2)].next_attempt_at == T0
    assert dispatcher.failed == 2

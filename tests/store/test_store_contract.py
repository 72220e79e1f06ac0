"""The Store contract, over every backend (the `place` fixture: SQLite and PostgreSQL).

What the pipeline, the API, the forwarding and the fallback rely on: captures are durable and exact,
refusals are capped, `apply` dedups on `event_id` and merges tasks forward only, writes outbox rows, and
the same holds when two stores (replicas) work on the same data at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from receiver.clock import ManualClock
from receiver.config import RefusalSettings
from receiver.model import Event, Origin, Outcome, Provider, Status
from receiver.store.base import (
    Applied,
    Backlog,
    CaptureFilter,
    CaptureState,
    Effect,
    EventFilter,
    NewCapture,
    NewerSchema,
    OutboxFilter,
    OutboxState,
    Processed,
    Refusal,
    Settlement,
    Store,
    TrackedFilter,
    TrackedTask,
    TrackState,
)
from receiver.store.sqlite import migrations
from tests.store.conftest import Place

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new_capture(
    body: bytes = b'{"eventType":"x"}', *, source: str = "vod", refused: bool = False, at: datetime = T0
) -> NewCapture:
    return NewCapture(
        source=source,
        dialect="tencent-vod-v2",
        received_at=at,
        method="POST",
        path=f"/callbacks/{source}",
        query="a=1&b=%00",
        headers={"content-type": "application/json", "x-trace": "ünï"},
        body=body,
        remote="203.0.113.7",
        verification="refused" if refused else "accepted_unsigned",
        verification_reason="bad signature" if refused else None,
    )


def event(
    task_id: str | None = "task-1",
    status: Status | None = Status.PROCESSING,
    outcome: Outcome | None = None,
    *,
    event_type: str = "ProcedureStateChanged",
    source: str = "vod",
    at: datetime = T0,
    capture_id: int | None = None,
    **fields: Any,
) -> Event:
    return Event.build(
        provider=Provider.TENCENT_VOD,
        dialect="tencent-vod-v2",
        source=source,
        origin=Origin.CALLBACK,
        event_type=event_type,
        task_id=task_id,
        status=status,
        outcome=outcome,
        received_at=at,
        capture_id=capture_id,
        **fields,
    )


async def capture_and_apply(store: Store, *events: Event, route: Any = None) -> list[Applied]:
    capture_id = await store.capture(new_capture())
    [applied] = await store.apply([Processed(capture_id, events=list(events))], route)
    return applied


async def reopened(place: Place, clock: ManualClock) -> Store:
    again = place.make(clock)
    await again.open()
    return again


# captures ------------------------------------------------------------------------------------------------


async def test_a_capture_is_kept_exactly_and_survives_reopening(place: Place, clock: ManualClock) -> None:
    body = b'{"a": 1}\x00\xff\xfe raw bytes, not UTF-8'
    first = place.make(clock)
    await first.open()
    capture_id = await first.capture(new_capture(body, at=T0 + timedelta(microseconds=123)))
    await first.close()

    again = await reopened(place, clock)
    try:
        kept = await again.get_capture(capture_id)
        assert kept is not None
        assert kept.body == body
        assert kept.headers == {"content-type": "application/json", "x-trace": "ünï"}
        assert kept.received_at == T0 + timedelta(microseconds=123)
        assert (kept.method, kept.path, kept.query, kept.remote) == (
            "POST",
            "/callbacks/vod",
            "a=1&b=%00",
            "203.0.113.7",
        )
        assert (kept.source, kept.dialect, kept.origin) == ("vod", "tencent-vod-v2", Origin.CALLBACK)
        assert kept.state is CaptureState.PENDING
        assert kept.verification == "accepted_unsigned"
        assert [c.id for c in await again.pending_captures()] == [capture_id]
        assert await again.get_capture(capture_id + 1000) is None
    finally:
        await again.close()


async def test_concurrent_captures_get_distinct_ids_and_all_are_kept(store: Store) -> None:
    bodies = [f'{{"n": {n}}}'.encode() for n in range(300)]
    ids = await asyncio.gather(*(store.capture(new_capture(body)) for body in bodies))
    assert len(set(ids)) == len(bodies)
    for capture_id, body in zip(ids, bodies, strict=True):
        kept = await store.get_capture(capture_id)
        assert kept is not None and kept.body == body
    assert (await store.counts())["captures_pending"] == len(bodies)


async def test_refused_captures_are_kept_but_never_pending(store: Store) -> None:
    capture_id = await store.capture(new_capture(refused=True))
    kept = await store.get_capture(capture_id)
    assert kept is not None
    assert kept.state is CaptureState.REFUSED
    assert kept.verification_reason == "bad signature"
    assert await store.pending_captures() == []
    assert await store.claim_captures() == []


async def test_refused_captures_are_capped_by_count_oldest_first(place: Place, clock: ManualClock) -> None:
    store = place.make(clock, RefusalSettings(max_count=3))
    await store.open()
    try:
        accepted = await store.capture(new_capture())
        refused = [await store.capture(new_capture(f"r{n}".encode(), refused=True)) for n in range(5)]
        kept = await store.list_captures(CaptureFilter(state=CaptureState.REFUSED))
        assert [c.id for c in kept] == refused[:1:-1]  # the newest three, newest first
        assert await store.get_capture(accepted) is not None  # accepted captures never count
    finally:
        await store.close()


async def test_refused_captures_are_capped_by_size(place: Place, clock: ManualClock) -> None:
    store = place.make(clock, RefusalSettings(max_bytes=25))
    await store.open()
    try:
        ids = [await store.capture(new_capture(b"x" * 10, refused=True)) for _ in range(4)]
        kept = await store.list_captures(CaptureFilter(state=CaptureState.REFUSED))
        assert [c.id for c in kept] == [ids[3], ids[2]]  # 20 bytes fit, 30 would not
        assert (await store.counts())["captures_refused"] == 2
    finally:
        await store.close()


async def test_refusals_keep_the_head_and_are_capped(place: Place, clock: ManualClock) -> None:
    store = place.make(clock, RefusalSettings(max_count=2, head_bytes=4))
    await store.open()
    try:
        for n in range(3):
            await store.refuse(
                Refusal(
                    source="vod",
                    received_at=T0 + timedelta(seconds=n),
                    remote=None,
                    reason=f"too large #{n}",
                    headers={"content-length": "99999999"},
                    body_size=99_999_999,
                    body_head=b"\x00\x01\x02\x03\x04\x05",
                )
            )
        kept = await store.list_refusals()
        assert [r.reason for r in kept] == ["too large #2", "too large #1"]
        assert kept[0].body_head == b"\x00\x01\x02\x03"
        assert kept[0].body_size == 99_999_999
        assert kept[0].headers == {"content-length": "99999999"}
        assert kept[0].received_at == T0 + timedelta(seconds=2)
        assert (await store.counts())["refusals"] == 2
    finally:
        await store.close()


# apply: dedup and task state -----------------------------------------------------------------------------


async def test_apply_stores_the_event_tracks_the_task_and_marks_the_capture(store: Store, clock: ManualClock) -> None:
    capture_id = await store.capture(new_capture())
    first = event(capture_id=capture_id, media_id="m-1")
    [[applied]] = await store.apply([Processed(capture_id, events=[first])])
    assert (applied.duplicate, applied.effect) == (False, Effect.APPLIED)
    assert applied.task is not None and applied.task.version == 1

    task = await store.get_task("tencent-vod", "task-1")
    assert task is not None
    assert (task.status, task.version, task.media_id, task.last_event_id) == (
        Status.PROCESSING,
        1,
        "m-1",
        first.event_id,
    )
    stored = await store.get_event(first.event_id)
    assert stored is not None and stored.event == first and stored.effect is Effect.APPLIED
    kept = await store.get_capture(capture_id)
    assert kept is not None
    assert kept.state is CaptureState.PROCESSED
    assert kept.event_ids == (first.event_id,)
    assert kept.processed_at == clock.now()
    assert await store.pending_captures() == []


async def test_a_duplicate_event_is_stored_once(store: Store) -> None:
    one = event(status=Status.FINISHED, outcome=Outcome.SUCCESS)
    again = event(status=Status.FINISHED, outcome=Outcome.SUCCESS, source="elsewhere", at=T0 + timedelta(hours=1))
    assert again.event_id == one.event_id  # the receipt fields are not part of the identity

    first, twin = await capture_and_apply(store, one, one)  # twice in one batch
    later = await capture_and_apply(store, again)  # and again later
    assert (first.duplicate, first.effect) == (False, Effect.APPLIED)
    assert (twin.duplicate, twin.effect) == (True, Effect.APPLIED)
    assert (later[0].duplicate, later[0].effect) == (True, Effect.APPLIED)
    assert later[0].task is not None and later[0].task.version == 1
    assert len(await store.list_events(EventFilter())) == 1
    assert (await store.counts())["events"] == 1


async def test_task_state_only_moves_forward(store: Store) -> None:
    [started] = await capture_and_apply(store, event(status=Status.PROCESSING))
    [stale] = await capture_and_apply(store, event(status=Status.WAITING))
    [same] = await capture_and_apply(store, event(status=Status.PROCESSING, provider_status="PROCESSING-again"))
    [done] = await capture_and_apply(store, event(status=Status.FINISHED, outcome=Outcome.SUCCESS))
    [late] = await capture_and_apply(store, event(status=Status.PROCESSING, event_type="Late"))
    assert [a.effect for a in (started, stale, same, done, late)] == [
        Effect.APPLIED,
        Effect.STALE,
        Effect.SAME_TRANSITION,
        Effect.APPLIED,
        Effect.STALE,
    ]
    task = await store.get_task("tencent-vod", "task-1")
    assert task is not None
    assert (task.status, task.outcome, task.version) == (Status.FINISHED, Outcome.SUCCESS, 2)
    timeline = await store.task_events("tencent-vod", "task-1")
    assert [e.effect for e in timeline] == [a.effect for a in (started, stale, same, done, late)]
    assert [e.seq for e in timeline] == sorted(e.seq for e in timeline)


async def test_informational_and_taskless_events_change_nothing(store: Store) -> None:
    [info] = await capture_and_apply(store, event(status=None, event_type="SomethingNew"))
    [loose] = await capture_and_apply(store, event(task_id=None, event_type="Orphan"))
    assert (info.effect, info.task) == (Effect.INFO, None)
    assert (loose.effect, loose.task) == (Effect.NO_TASK, None)
    assert await store.get_task("tencent-vod", "task-1") is None
    assert (await store.counts())["events"] == 2
    assert (await store.counts())["tasks"] == 0


async def test_a_media_event_is_tracked_under_its_media_key(store: Store) -> None:
    await capture_and_apply(
        store, event(task_id=None, media_id="5285", status=Status.FINISHED, outcome=Outcome.SUCCESS)
    )
    task = await store.get_task("tencent-vod", "media:5285")
    assert task is not None and task.status is Status.FINISHED


async def test_nul_characters_from_a_provider_do_not_break_storage(store: Store) -> None:
    odd = "task\x00with-nul"
    [applied] = await capture_and_apply(store, event(task_id=odd, event_type="Type\x00X"))
    assert applied.effect is Effect.APPLIED
    task = await store.get_task("tencent-vod", odd)
    assert task is not None and task.task_id == odd
    [stored] = await store.task_events("tencent-vod", odd)
    assert stored.event.event_type == "Type\x00X"
    assert len(await store.list_events(EventFilter(task_id=odd))) == 1


async def test_quarantine_reset_and_reprocess(store: Store) -> None:
    capture_id = await store.capture(new_capture(b"not json"))
    refused_id = await store.capture(new_capture(refused=True))
    await store.apply([Processed(capture_id, error="not a document of any dialect: 'not json'")])
    kept = await store.get_capture(capture_id)
    assert kept is not None
    assert (kept.state, kept.error) == (CaptureState.QUARANTINED, "not a document of any dialect: 'not json'")
    quarantined = await store.list_captures(CaptureFilter(state=CaptureState.QUARANTINED))
    assert [c.id for c in quarantined] == [capture_id]

    await store.reset_captures([capture_id, refused_id])
    for reset_id in (capture_id, refused_id):
        again = await store.get_capture(reset_id)
        assert again is not None and again.state is CaptureState.PENDING and again.error is None
    assert [c.id for c in await store.claim_captures()] == [capture_id, refused_id]

    await store.apply([Processed(capture_id, events=[event(capture_id=capture_id)]), Processed(refused_id)])
    assert (await store.counts())["captures_processed"] == 2


async def test_outbox_rows_follow_the_route_inside_the_transaction(store: Store) -> None:
    def route(applied: Applied) -> list[str]:
        if applied.duplicate or applied.effect is not Effect.APPLIED:
            return ["audit"]  # a sink that wants every event
        return ["audit", "queue"]

    first = event(status=Status.PROCESSING)
    await capture_and_apply(store, first, route=route)
    await capture_and_apply(store, first, route=route)  # duplicate
    await capture_and_apply(store, event(status=Status.FINISHED, outcome=Outcome.FAILED), route=route)
    queue = await store.list_outbox(OutboxFilter(sink="queue"))
    audit = await store.list_outbox(OutboxFilter(sink="audit"))
    assert len(audit) == 3
    assert [m.version for m in queue] == [2, 1]  # newest first
    newest = queue[0]
    assert newest.state == OutboxState.PENDING
    assert newest.message["task"]["outcome"] == "failed"
    assert newest.message["version"] == 2
    assert newest.task_key == "task-1" and newest.provider == "tencent-vod"
    assert (await store.outbox_counts()) == {"audit": {"pending": 3}, "queue": {"pending": 2}}


async def test_the_backlog_counts_what_waits_or_went_wrong_and_nothing_else(store: Store) -> None:
    assert await store.backlog() == Backlog(captures={"pending": 0, "quarantined": 0, "refused": 0}, outbox={})
    waiting = [await store.capture(new_capture()) for _ in range(3)]
    await store.capture(new_capture(refused=True))
    await store.apply(
        [Processed(waiting[0], error="unidentifiable"), Processed(waiting[1], events=[event()])],
        lambda applied: ["queue", "audit"],
    )
    [message] = await store.list_outbox(OutboxFilter(sink="queue"))
    now = T0 + timedelta(minutes=1)
    await store.settle_outbox([Settlement(id=message.id, state=OutboxState.DELIVERED, at=now)])
    [audit] = await store.list_outbox(OutboxFilter(sink="audit"))
    await store.settle_outbox([Settlement(id=audit.id, state=OutboxState.DEAD, at=now, error="refused for good")])
    backlog = await store.backlog()
    # one pending capture left, and the message delivered to "queue" counts nowhere
    assert backlog == Backlog(captures={"pending": 1, "quarantined": 1, "refused": 1}, outbox={("audit", "dead"): 1})


async def test_a_failed_apply_leaves_nothing_behind(store: Store) -> None:
    capture_id = await store.capture(new_capture())

    def broken_route(applied: Applied) -> list[str]:
        raise RuntimeError("router bug")

    with pytest.raises(RuntimeError, match="router bug"):
        await store.apply([Processed(capture_id, events=[event()])], broken_route)
    assert (await store.counts())["events"] == 0
    assert await store.get_task("tencent-vod", "task-1") is None
    assert [c.id for c in await store.pending_captures()] == [capture_id]


# re-drive ------------------------------------------------------------------------------------------------


async def test_pending_captures_are_redriven_in_order_with_a_cursor(store: Store) -> None:
    ids = [await store.capture(new_capture(f"{n}".encode())) for n in range(5)]
    await store.apply([Processed(ids[1], events=[event()])])
    assert [c.id for c in await store.pending_captures(limit=2)] == [ids[0], ids[2]]
    assert [c.id for c in await store.pending_captures(after_id=ids[2])] == [ids[3], ids[4]]
    assert [c.id for c in await store.claim_captures(limit=2)] == [ids[0], ids[2]]
    assert [c.id for c in await store.claim_captures(after_id=ids[2])] == [ids[3], ids[4]]


# reads: filters, cursors, counts ---------------------------------------------------------------------------


async def test_event_filters_and_cursor(store: Store) -> None:
    await capture_and_apply(store, event("a", source="s1", at=T0))
    await capture_and_apply(store, event("b", source="s2", at=T0 + timedelta(minutes=1), event_type="Other"))
    await capture_and_apply(
        store, event("a", Status.FINISHED, Outcome.SUCCESS, source="s1", at=T0 + timedelta(minutes=2))
    )
    everything = await store.list_events(EventFilter())
    assert [e.event.task_id for e in everything] == ["a", "b", "a"]  # newest first
    assert [e.event.task_id for e in await store.list_events(EventFilter(source="s2"))] == ["b"]
    assert len(await store.list_events(EventFilter(task_id="a"))) == 2
    assert len(await store.list_events(EventFilter(provider="tencent-vod"))) == 3
    assert await store.list_events(EventFilter(provider="aliyun-vod")) == []
    assert [e.event.task_id for e in await store.list_events(EventFilter(event_type="Other"))] == ["b"]
    since = await store.list_events(EventFilter(since=T0 + timedelta(minutes=1)))
    assert [e.event.received_at for e in since] == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)]
    until = await store.list_events(EventFilter(until=T0 + timedelta(minutes=1)))
    assert [e.event.received_at for e in until] == [T0]
    page = await store.list_events(EventFilter(limit=2))
    rest = await store.list_events(EventFilter(before_seq=page[-1].seq))
    assert [e.seq for e in page + rest] == [e.seq for e in everything]


async def test_capture_filters_and_cursors(store: Store) -> None:
    ids = [
        await store.capture(new_capture(source=source, at=T0 + timedelta(seconds=n)))
        for n, source in enumerate(["s1", "s2", "s1", "s1"])
    ]
    await store.apply([Processed(ids[0], events=[])])
    assert [c.id for c in await store.list_captures(CaptureFilter())] == ids[::-1]
    assert [c.id for c in await store.list_captures(CaptureFilter(source="s1"))] == [ids[3], ids[2], ids[0]]
    pending = await store.list_captures(CaptureFilter(state=CaptureState.PENDING))
    assert [c.id for c in pending] == [ids[3], ids[2], ids[1]]
    window = CaptureFilter(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3))
    assert [c.id for c in await store.list_captures(window)] == [ids[2], ids[1]]
    assert [c.id for c in await store.list_captures(CaptureFilter(before_id=ids[2], limit=1))] == [ids[1]]
    assert [c.id for c in await store.list_captures(CaptureFilter(after_id=ids[1]))] == [ids[2], ids[3]]


async def test_counts(store: Store) -> None:
    ids = [await store.capture(new_capture()) for _ in range(4)]
    await store.capture(new_capture(refused=True))
    await store.apply(
        [
            Processed(ids[0], events=[event("a"), event("b")]),
            Processed(ids[1], error="unidentifiable"),
        ]
    )
    counts = await store.counts()
    assert counts == {
        "captures_pending": 2,
        "captures_processed": 1,
        "captures_quarantined": 1,
        "captures_refused": 1,
        "events": 2,
        "tasks": 2,
        "refusals": 0,
    }


# schema ----------------------------------------------------------------------------------------------------


async def test_migrations_are_idempotent_and_refuse_a_newer_schema(place: Place, clock: ManualClock) -> None:
    first = place.make(clock)
    await first.open()
    capture_id = await first.capture(new_capture())
    await first.close()
    newest = migrations(place.kind)[-1][0]
    assert place.sql("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(newest),)]

    again = await reopened(place, clock)  # nothing to migrate: the data is untouched
    assert await again.get_capture(capture_id) is not None
    await again.close()

    place.sql("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(newest + 1),))
    newer = place.make(clock)
    with pytest.raises(NewerSchema, match=f"{newest + 1}"):
        await newer.open()
    await newer.close()


async def test_several_stores_migrating_at_once_agree(place: Place, clock: ManualClock) -> None:
    stores = [place.make(clock) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        ids = await asyncio.gather(*(s.capture(new_capture()) for s in stores))
        assert len(set(ids)) == 4
        newest = migrations(place.kind)[-1][0]
        assert place.sql("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(newest),)]
    finally:
        for s in stores:
            await s.close()


async def test_ping_answers_while_open(place: Place, clock: ManualClock) -> None:
    store = place.make(clock)
    await store.open()
    assert await store.ping() is True
    await store.close()
    assert await store.ping() is False


# several stores on the same data (replicas) ----------------------------------------------------------------


async def test_the_same_event_applied_by_two_stores_at_once_is_stored_once(place: Place, clock: ManualClock) -> None:
    one, two = place.make(clock), place.make(clock)
    await one.open()
    await two.open()
    try:
        for round_ in range(10):
            same = event(f"task-{round_}", Status.FINISHED, Outcome.SUCCESS)
            results = await asyncio.gather(capture_and_apply(one, same), capture_and_apply(two, same))
            flags = sorted(applied.duplicate for [applied] in results)
            assert flags == [False, True]
            task = await one.get_task("tencent-vod", f"task-{round_}")
            assert task is not None and task.version == 1
        assert (await one.counts())["events"] == 10
    finally:
        await one.close()
        await two.close()


async def test_concurrent_batches_over_the_same_tasks_lose_no_version(place: Place, clock: ManualClock) -> None:
    """Two stores apply batches touching the same tasks in opposite orders: no deadlock, no lost update."""
    one, two = place.make(clock), place.make(clock)
    await one.open()
    await two.open()
    tasks = [f"t{n}" for n in range(8)]
    try:
        for round_ in range(6):
            forward = [event(t, Status.PROCESSING, provider_status=f"one-{round_}", outputs=[]) for t in tasks]
            backward = [event(t, Status.PROCESSING, error={"code": f"two-{round_}"}) for t in reversed(tasks)]
            await asyncio.gather(capture_and_apply(one, *forward), capture_and_apply(two, *backward))
        applied = 0
        for t in tasks:
            timeline = await one.task_events("tencent-vod", t)
            assert len(timeline) == 12
            applied += sum(1 for e in timeline if e.effect is Effect.APPLIED)
            task = await one.get_task("tencent-vod", t)
            assert task is not None
            assert task.version == sum(1 for e in timeline if e.effect is Effect.APPLIED)
        assert applied >= len(tasks)
    finally:
        await one.close()
        await two.close()


async def test_captures_belong_to_the_store_that_took_them(place: Place, clock: ManualClock) -> None:
    one, two = place.make(clock), place.make(clock)
    await one.open()
    await two.open()
    try:
        capture_id = await one.capture(new_capture())
        if not two.shared:  # one process owns an SQLite data dir: every pending capture is its own
            assert [c.id for c in await two.claim_captures()] == [capture_id]
            return
        assert await two.claim_captures() == []  # `one` holds it: it processes it right away
        assert [c.id for c in await one.claim_captures()] == [capture_id]  # its own, again
        clock.advance(3600)  # `one` died: its lease ran out
        assert [c.id for c in await two.claim_captures(lease_s=60)] == [capture_id]
        assert await one.claim_captures() == []  # now `two` holds it
        await two.apply([Processed(capture_id, events=[event()])])
        clock.advance(3600)
        assert await one.claim_captures() == [] and await two.claim_captures() == []  # processed
    finally:
        await one.close()
        await two.close()


async def test_concurrent_claims_hand_each_capture_to_one_store(place: Place, clock: ManualClock) -> None:
    stores = [place.make(clock) for _ in range(3)]
    for s in stores:
        await s.open()
    try:
        ids = [await stores[0].capture(new_capture()) for _ in range(60)]
        if not stores[0].shared:
            pytest.skip("one process owns an SQLite data dir: there is nobody to share captures with")
        clock.advance(3600)  # the capturing store died
        claimed = await asyncio.gather(*(s.claim_captures(limit=25) for s in stores))
        flat = [c.id for batch in claimed for c in batch]
        assert len(flat) == len(set(flat))  # nobody got a capture another holds
        more = await asyncio.gather(*(s.claim_captures(limit=60) for s in stores))
        mine = [[c.id for c in batch] for batch in more]
        for before, after in zip(claimed, mine, strict=True):
            assert {c.id for c in before} <= set(after)  # a store's claims stay its own
        assert sorted(i for batch in mine for i in batch) == ids
    finally:
        for s in stores:
            await s.close()


async def test_closing_a_store_lets_others_take_its_captures_at_once(place: Place, clock: ManualClock) -> None:
    one, two = place.make(clock), place.make(clock)
    await one.open()
    await two.open()
    try:
        capture_id = await one.capture(new_capture())
        await one.close()
        assert [c.id for c in await two.claim_captures()] == [capture_id]
    finally:
        await two.close()


# leases --------------------------------------------------------------------------------------------------


async def test_a_lease_has_one_holder_until_released_or_expired(store: Store, clock: ManualClock) -> None:
    assert await store.lease_holder("scheduler") is None
    assert await store.try_acquire_lease("scheduler", "a", ttl_s=10) is True
    assert await store.try_acquire_lease("scheduler", "b", ttl_s=10) is False
    assert await store.lease_holder("scheduler") == "a"
    assert await store.try_acquire_lease("other", "b", ttl_s=10) is True  # leases are independent

    clock.advance(8)
    assert await store.renew_lease("scheduler", "a", ttl_s=10) is True
    assert await store.renew_lease("scheduler", "b", ttl_s=10) is False
    clock.advance(8)  # 16 s after the start, 8 after the renewal
    assert await store.try_acquire_lease("scheduler", "b", ttl_s=10) is False
    assert await store.try_acquire_lease("scheduler", "a", ttl_s=10) is True  # the holder re-acquires

    clock.advance(11)  # expired
    assert await store.lease_holder("scheduler") is None
    assert await store.try_acquire_lease("scheduler", "b", ttl_s=10) is True
    assert await store.renew_lease("scheduler", "a", ttl_s=10) is False  # `a` lost it: stop working

    await store.release_lease("scheduler", "a")  # not a's to release: nothing happens
    assert await store.lease_holder("scheduler") == "b"
    await store.release_lease("scheduler", "b")
    assert await store.lease_holder("scheduler") is None
    assert await store.try_acquire_lease("scheduler", "a", ttl_s=10) is True


async def test_stores_racing_for_a_lease_get_one_holder(place: Place, clock: ManualClock) -> None:
    stores = [place.make(clock) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        for round_ in range(5):
            won = await asyncio.gather(
                *(s.try_acquire_lease("scheduler", f"r{i}", ttl_s=10) for i, s in enumerate(stores))
            )
            assert sum(won) == 1
            winner = f"r{won.index(True)}"
            assert await stores[0].lease_holder("scheduler") == winner
            clock.advance(11 + round_)
    finally:
        for s in stores:
            await s.close()


# rate buckets --------------------------------------------------------------------------------------------


async def test_a_token_bucket_allows_its_burst_then_spaces_callers(store: Store, clock: ManualClock) -> None:
    waits = [await store.take_tokens("tencent-vod:GetTaskInfo", rate=2, burst=3) for _ in range(6)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.5), pytest.approx(1.0), pytest.approx(1.5)]
    clock.advance(10)  # full again, and no fuller than the burst
    waits = [await store.take_tokens("tencent-vod:GetTaskInfo", rate=2, burst=3) for _ in range(4)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.5)]
    assert await store.take_tokens("another", rate=2, burst=3) == 0.0  # buckets are independent
    assert await store.take_tokens("bulk", rate=10, burst=5, n=8) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="rate"):
        await store.take_tokens("bad", rate=0, burst=1)


async def test_stores_share_a_bucket(place: Place, clock: ManualClock) -> None:
    stores = [place.make(clock) for _ in range(3)]
    for s in stores:
        await s.open()
    try:
        waits = await asyncio.gather(*(s.take_tokens("aliyun", rate=5, burst=1) for s in stores for _ in range(4)))
        # twelve reservations at 5/s after a burst of one: whoever runs them, they are 0.2 s apart
        assert sorted(waits) == pytest.approx([0.2 * n for n in range(12)])
    finally:
        for s in stores:
            await s.close()


# the outbox as a shared queue ----------------------------------------------------------------------------


async def test_outbox_messages_are_claimed_by_one_store_at_a_time(place: Place, clock: ManualClock) -> None:
    stores = [place.make(clock) for _ in range(3)]
    for s in stores:
        await s.open()
    try:
        for n in range(30):
            await capture_and_apply(stores[0], event(f"task-{n}"), route=lambda applied: ["jsonl"])
        now = clock.now()
        claims = await asyncio.gather(
            *(s.claim_outbox("jsonl", now, now + timedelta(seconds=30), limit=12) for s in stores)
        )
        ids = [m.id for batch in claims for m in batch]
        assert len(ids) == len(set(ids)) == 30
        assert await stores[0].claim_outbox("jsonl", now, now + timedelta(seconds=30), limit=100) == []
        await stores[1].settle_outbox(
            [Settlement(id=i, state=OutboxState.DELIVERED, at=now) for i in ids[:20]]
            + [Settlement(id=i, state=OutboxState.PENDING, at=now, next_attempt_at=now, error="boom") for i in ids[20:]]
        )
        again = await stores[2].claim_outbox("jsonl", now, now + timedelta(seconds=30), limit=100)
        assert sorted(m.id for m in again) == sorted(ids[20:])
        assert all(m.attempts == 1 and m.last_error == "boom" for m in again)
        assert (await stores[0].outbox_counts())["jsonl"] == {"delivered": 20, "pending": 10}
    finally:
        for s in stores:
            await s.close()


async def test_a_tasks_outbox_messages_go_out_in_order_across_stores(place: Place, clock: ManualClock) -> None:
    one, two = place.make(clock), place.make(clock)
    await one.open()
    await two.open()
    try:
        route = lambda applied: ["hook"]  # noqa: E731
        await capture_and_apply(one, event("t", Status.WAITING), route=route)
        await capture_and_apply(one, event("t", Status.PROCESSING), route=route)
        now = clock.now()
        lease = now + timedelta(seconds=30)
        first = await one.claim_outbox("hook", now, lease, limit=1)
        assert [m.version for m in first] == [1]
        assert await two.claim_outbox("hook", now, lease, limit=10) == []  # version 2 waits for version 1
        await one.settle_outbox([Settlement(id=first[0].id, state=OutboxState.DELIVERED, at=now)])
        assert [m.version for m in await two.claim_outbox("hook", now, lease, limit=10)] == [2]
    finally:
        await one.close()
        await two.close()


async def test_dead_letters_are_retried_purged_and_events_redelivered(store: Store, clock: ManualClock) -> None:
    route = lambda applied: ["hook"]  # noqa: E731
    await capture_and_apply(store, event("a"), route=route)
    await capture_and_apply(store, event("b"), route=route)
    now = clock.now()
    [first, second] = await store.claim_outbox("hook", now, now + timedelta(seconds=30), limit=10)
    await store.settle_outbox(
        [
            Settlement(id=first.id, state=OutboxState.DEAD, at=now, error="HTTP 410"),
            Settlement(id=second.id, state=OutboxState.DELIVERED, at=now),
        ]
    )
    [dead] = await store.list_outbox(OutboxFilter(state=OutboxState.DEAD))
    assert (dead.id, dead.last_error, dead.dead_at) == (first.id, "HTTP 410", now)
    [delivered] = await store.list_outbox(OutboxFilter(state=OutboxState.DELIVERED))
    assert delivered.delivered_at == now

    clock.advance(60)
    assert await store.retry_outbox(OutboxFilter(sink="hook"), clock.now()) == 1  # only dead rows move
    [again] = await store.list_outbox(OutboxFilter(ids=[first.id]))
    assert (again.state, again.attempts, again.age_from, again.dead_at) == (
        OutboxState.PENDING,
        0,
        clock.now(),
        None,
    )
    assert await store.purge_outbox(OutboxFilter(state=OutboxState.DELIVERED)) == 1
    with pytest.raises(ValueError, match="dead or delivered"):
        await store.purge_outbox(OutboxFilter(state=OutboxState.PENDING))

    assert await store.redeliver("replay", EventFilter(task_id="b"), clock.now()) == 1
    [resent] = await store.list_outbox(OutboxFilter(sink="replay"))
    assert resent.redelivery is True
    assert resent.event_id == second.event_id and resent.message == second.message
    assert await store.list_outbox(OutboxFilter(event_id=second.event_id, sink="hook")) == []  # purged


async def test_import_keeps_a_capture_once(store: Store) -> None:
    exported = new_capture(b'{"imported": true}', at=T0 - timedelta(days=3))
    first = await store.import_capture(exported)
    assert first is not None
    assert await store.import_capture(exported) is None  # the same file imported twice changes nothing
    kept = await store.get_capture(first)
    assert kept is not None and kept.state is CaptureState.PENDING and kept.received_at == exported.received_at
    assert await store.import_capture(new_capture(b'{"imported": "other"}', at=T0 - timedelta(days=3))) is not None
    refused = await store.import_capture(new_capture(refused=True))
    assert refused is not None
    again = await store.get_capture(refused)
    assert again is not None and again.state is CaptureState.REFUSED


async def test_prune_keeps_pending_captures_and_drops_the_oldest(store: Store) -> None:
    old = [await store.capture(new_capture(b"x" * 100, at=T0 + timedelta(minutes=n))) for n in range(4)]
    pending = await store.capture(new_capture(b"p" * 100, at=T0 - timedelta(days=1)))
    await store.apply([Processed(capture_id) for capture_id in old])
    assert await store.prune_captures(older_than=T0 + timedelta(minutes=1)) == 1  # the pending one stays
    assert await store.get_capture(old[0]) is None and await store.get_capture(pending) is not None
    # 400 bytes left (three processed, one pending): down to 250 drops the two oldest processed ones
    assert await store.prune_captures(max_bytes=250) == 2
    assert [c.id for c in await store.list_captures(CaptureFilter())] == [pending, old[3]]


def tracked(task_id: str, *, deadline_min: int, check_min: int, source: str = "vod") -> TrackedTask:
    return TrackedTask(
        provider="tencent-vod",
        task_id=task_id,
        source=source,
        deadline=T0 + timedelta(minutes=deadline_min),
        next_check_at=T0 + timedelta(minutes=check_min),
        tracked_at=T0,
        task_kind="procedure",
    )


async def test_tracked_tasks_and_cursors(store: Store) -> None:
    assert (
        await store.track_tasks(
            [tracked("a", deadline_min=15, check_min=15), tracked("b", deadline_min=5, check_min=30)]
        )
        == 2
    )
    assert (
        await store.track_tasks(
            [
                tracked("a", deadline_min=99, check_min=99),
                tracked("c", deadline_min=10, check_min=10, source="other"),
            ]
        )
        == 1
    )
    a = await store.get_tracked("tencent-vod", "a")
    assert a is not None and a.deadline == T0 + timedelta(minutes=15)  # tracking again keeps the row
    await store.save_tracked(replace(a, attempts=2, last_error="timeout", next_check_at=T0 + timedelta(minutes=40)))
    saved = await store.get_tracked("tencent-vod", "a")
    assert saved is not None and (saved.attempts, saved.last_error) == (2, "timeout")
    assert saved.next_check_at == T0 + timedelta(minutes=40)

    everything = await store.list_tracked(TrackedFilter())
    assert [t.task_id for t in everything] == ["b", "c", "a"]  # by deadline
    due = await store.list_tracked(TrackedFilter(due_at=T0 + timedelta(minutes=30)))
    assert [t.task_id for t in due] == ["b", "c"]
    overdue = await store.list_tracked(TrackedFilter(overdue_at=T0 + timedelta(minutes=10)))
    assert [t.task_id for t in overdue] == ["b", "c"]
    assert [t.task_id for t in await store.list_tracked(TrackedFilter(source="other"))] == ["c"]

    at = T0 + timedelta(hours=1)
    assert await store.close_tracked([("tencent-vod", "b"), ("tencent-vod", "nope")], TrackState.DONE, at) == 1
    assert await store.close_tracked([("tencent-vod", "b")], TrackState.LOST, at) == 0  # only open ones move
    closed = await store.get_tracked("tencent-vod", "b")
    assert closed is not None and (closed.state, closed.resolved_at) == (TrackState.DONE, at)
    assert [t.task_id for t in await store.list_tracked(TrackedFilter(state=TrackState.OPEN))] == ["c", "a"]
    counts = await store.tracked_counts(T0 + timedelta(minutes=12))
    assert counts == {"open": 2, "done": 1, "recovered": 0, "lost": 0, "overdue": 1}

    assert await store.get_cursor("sweep:vod") is None
    await store.set_cursor("sweep:vod", "page-2")
    await store.set_cursor("sweep:vod", "page-3")
    assert await store.get_cursor("sweep:vod") == "page-3"
    await store.set_cursor("sweep:vod", None)
    assert await store.get_cursor("sweep:vod") is None


# confirmation: held terminal callbacks (a source with `confirm`) -------------------------------------------


def poll(status: Status, outcome: Outcome | None = None, *, at: datetime, capture_id: int | None = None) -> Event:
    """A query answer's event: other wording than the callback (its own event type), origin poll."""
    answer = event(status=status, outcome=outcome, event_type="DescribeTaskDetail", at=at, capture_id=capture_id)
    return answer.model_copy(update={"origin": Origin.POLL})


async def hold(store: Store, *events: Event) -> tuple[int, list[Applied]]:
    """Capture and apply `events` as a confirming source's callback would be (`Processed.hold`)."""
    capture_id = await store.capture(new_capture())
    stamped = [e.model_copy(update={"capture_id": capture_id}) for e in events]
    [applied] = await store.apply([Processed(capture_id, events=stamped, hold=True)], lambda _: ["s"])
    return capture_id, applied


async def answer(store: Store, *events: Event) -> list[Applied]:
    capture_id = await store.capture(replace(new_capture(), origin=Origin.POLL))
    stamped = [e.model_copy(update={"capture_id": capture_id}) for e in events]
    [applied] = await store.apply([Processed(capture_id, events=stamped)], lambda _: ["s"])
    return applied


async def test_a_held_terminal_callback_changes_nothing_until_a_query_answer_confirms_it(
    store: Store, clock: ManualClock
) -> None:
    at = clock.now()
    _, [started] = await hold(store, event(status=Status.PROCESSING, at=at))
    assert started.effect is Effect.APPLIED  # only terminal events are held
    claimed = event(status=Status.FINISHED, outcome=Outcome.SUCCESS, at=at + timedelta(seconds=1))
    held_capture, [held] = await hold(store, claimed)
    assert (held.duplicate, held.effect) == (False, Effect.HELD)
    _, [again] = await hold(store, claimed)  # the same callback once more: a duplicate, still held
    assert (again.duplicate, again.effect) == (True, Effect.HELD)

    task = await store.get_task("tencent-vod", "task-1")
    assert task is not None and (task.status, task.version) == (Status.PROCESSING, 1)
    stored = await store.get_event(claimed.event_id)
    assert stored is not None and stored.effect is Effect.HELD  # visible, with its effect
    assert [m.event_id for m in await store.list_outbox(OutboxFilter())] == [started.event.event_id]
    watch = await store.get_tracked("tencent-vod", "task-1")  # tracked by the same transaction, due now
    assert watch is not None and (watch.state, watch.via, watch.next_check_at) == (TrackState.OPEN, "confirm", at)

    clock.advance(5)
    [confirming] = await answer(store, poll(Status.FINISHED, Outcome.SUCCESS, at=clock.now()))
    assert confirming.effect is Effect.APPLIED and confirming.task is not None
    assert confirming.task.status is Status.FINISHED and confirming.task.last_origin is Origin.POLL
    assert [(c.event_id, c.capture_id, c.effect) for c in confirming.confirmations] == [
        (claimed.event_id, held_capture, Effect.CONFIRMED)
    ]
    assert confirming.still_held == 0
    stored = await store.get_event(claimed.event_id)
    assert stored is not None and stored.effect is Effect.CONFIRMED
    kept = await store.get_capture(held_capture)
    assert kept is not None and kept.state is CaptureState.PROCESSED
    # what the sink gets is the provider's answer, once
    assert [m.event_id for m in await store.list_outbox(OutboxFilter())] == [
        confirming.event.event_id,
        started.event.event_id,
    ]


async def test_an_unconfirmed_callback_is_refused_with_the_reason_and_can_be_held_again(
    store: Store, clock: ManualClock
) -> None:
    at = clock.now()
    await store.track_tasks([tracked("task-1", deadline_min=60, check_min=60)])
    await store.close_tracked([("tencent-vod", "task-1")], TrackState.DONE, at)
    claimed = event(status=Status.FINISHED, outcome=Outcome.SUCCESS, at=at)
    held_capture, [held] = await hold(store, claimed)
    assert held.effect is Effect.HELD and held.task is None  # its first event: no task yet
    watch = await store.get_tracked("tencent-vod", "task-1")  # a closed row reopens, due now, keeping its history
    assert watch is not None and (watch.state, watch.via, watch.next_check_at) == (TrackState.OPEN, "event", at)
    assert watch.resolved_at is None and watch.deadline == T0 + timedelta(minutes=60)

    # A callback that arrives after the question went out is not judged by its answer.
    late = event(status=Status.FINISHED, outcome=Outcome.FAILED, at=at + timedelta(seconds=2))
    late_capture, _ = await hold(store, late)
    [refuting] = await answer(store, poll(Status.PROCESSING, at=at + timedelta(seconds=1)))
    assert refuting.effect is Effect.APPLIED and refuting.still_held == 1
    [verdict] = refuting.confirmations
    assert (verdict.event_id, verdict.capture_id) == (claimed.event_id, held_capture)
    assert verdict.effect is Effect.UNCONFIRMED
    assert verdict.reason is not None
    assert "task-1" in verdict.reason and "finished/success" in verdict.reason and "says processing" in verdict.reason
    refused = await store.get_capture(held_capture)
    assert refused is not None and (refused.state, refused.error) == (CaptureState.REFUSED, verdict.reason)
    assert [c.id for c in await store.list_captures(CaptureFilter(state=CaptureState.REFUSED))] == [held_capture]
    stored = await store.get_event(claimed.event_id)
    assert stored is not None and stored.effect is Effect.UNCONFIRMED
    task = await store.get_task("tencent-vod", "task-1")
    assert task is not None and task.status is Status.PROCESSING
    assert [m.event_id for m in await store.list_outbox(OutboxFilter())] == [refuting.event.event_id]

    # "not found" refutes what was held before the question, and only that
    assert await store.refuse_held("tencent-vod", "task-1", at + timedelta(seconds=1), "not found") == []
    [unknown] = await store.refuse_held("tencent-vod", "task-1", at + timedelta(seconds=3), "not found (gone)")
    assert (unknown.event_id, unknown.capture_id, unknown.effect) == (late.event_id, late_capture, Effect.UNCONFIRMED)
    assert unknown.reason is not None and unknown.reason.endswith("finished/failed, the provider says not found (gone)")
    gone = await store.get_capture(late_capture)
    assert gone is not None and gone.state is CaptureState.REFUSED

    # Reprocessing the refused capture holds its event again (not a duplicate), to be judged anew.
    [[again]] = await store.apply([Processed(held_capture, events=[claimed], hold=True)])
    assert (again.duplicate, again.effect) == (False, Effect.HELD)
    stored = await store.get_event(claimed.event_id)
    assert stored is not None and stored.effect is Effect.HELD
    kept = await store.get_capture(held_capture)
    assert kept is not None and kept.state is CaptureState.PROCESSED
    # ... and once the task really ended as it said, the next answer confirms it.
    [ended] = await answer(store, poll(Status.FINISHED, Outcome.SUCCESS, at=at + timedelta(seconds=9)))
    assert [(c.event_id, c.effect) for c in ended.confirmations] == [(claimed.event_id, Effect.CONFIRMED)]


async def test_a_query_answer_worded_as_the_held_callback_applies_it_and_confirms_it(store: Store) -> None:
    claimed = event(status=Status.FINISHED, outcome=Outcome.PARTIAL)
    held_capture, [held] = await hold(store, claimed)
    assert held.effect is Effect.HELD
    same = claimed.model_copy(update={"origin": Origin.POLL, "received_at": T0 + timedelta(seconds=1)})
    assert same.event_id == claimed.event_id
    [confirming] = await answer(store, same)
    assert (confirming.duplicate, confirming.effect) == (False, Effect.APPLIED)
    assert [(c.capture_id, c.effect) for c in confirming.confirmations] == [(held_capture, Effect.CONFIRMED)]
    task = await store.get_task("tencent-vod", "task-1")
    assert task is not None and (task.status, task.outcome) == (Status.FINISHED, Outcome.PARTIAL)
    assert len(await store.list_outbox(OutboxFilter())) == 1


async def test_the_verdicts_go_on_the_last_event_of_each_task_in_a_report(store: Store) -> None:
    claimed = event(status=Status.FINISHED, outcome=Outcome.SUCCESS)
    held_capture, _ = await hold(store, claimed)
    other = event("task-2", status=Status.FINISHED, outcome=Outcome.FAILED)
    other_capture, _ = await hold(store, other)
    taskless = event(None, status=None, event_type="Info").model_copy(update={"origin": Origin.POLL})
    later = T0 + timedelta(seconds=1)
    info, started, finished, second = await answer(
        store,
        taskless,
        poll(Status.PROCESSING, at=later),
        poll(Status.FINISHED, Outcome.SUCCESS, at=later),
        poll(Status.PROCESSING, at=later).model_copy(update={"task_id": "task-2"}),
    )
    assert (info.effect, info.confirmations) == (Effect.NO_TASK, ())
    assert started.confirmations == () and started.event.status is Status.PROCESSING
    assert [(c.capture_id, c.effect) for c in finished.confirmations] == [(held_capture, Effect.CONFIRMED)]
    assert [(c.capture_id, c.effect) for c in second.confirmations] == [(other_capture, Effect.UNCONFIRMED)]

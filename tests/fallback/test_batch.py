"""Batched status checks (`receiver.fallback.batch`): when several tasks of a source are due at once, one listing
request says which are still running, and only the others get a task query.

The scheduler tests run a real emulator per dialect (its clock frozen, so a task stays where the test put it:
waiting, processing or finished), a real SQLite store and a manual receiver clock the test moves.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.clock import ManualClock
from receiver.config import Settings
from receiver.emulator.config import EmulatorConfig
from receiver.fallback.batch import MIN_DUE, RETRY_AFTER_S, RunningShare, creation_window, worth_listing
from receiver.fallback.scheduler import Fallback
from receiver.model import Origin
from receiver.store.base import TrackedTask, TrackState
from tests.conftest import FIXTURES
from tests.emulator.conftest import Control
from tests.fallback.conftest import (
    PROVIDER,
    SURFACES,
    fallback_settings,
    receiver_task_id,
    sqlite_rig,
    task_queries,
)

pytestmark = pytest.mark.timeout(120)

#: The listing request a status check makes (Alibaba's task queries may add ListTranscodeTask: not this one).
STATUS_LISTING = {
    "tencent-vod-v2": "GetTaskList",
    "tencent-vod-v3": "DescribeTasks",
    "tencent-mps": "DescribeTasks",
    "aliyun-vod": "GetVideoList",
}
AGE_S = 60.0  # how old the tasks are when they come due: a task seen running is asked again this much later


def created_at(created: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(created["created_at"]).replace("Z", "+00:00"))


@asynccontextmanager
async def rig(
    tmp_path: Path, emu: Control, dialect: str, settings: Settings | None = None
) -> AsyncIterator[tuple[Fallback, ManualClock]]:
    clock = ManualClock(datetime.now(UTC))
    settings = settings or fallback_settings(
        tmp_path, emu, dialect, source={"sweep": False}, backoff_base_s=1.0, backoff_max_s=3600.0
    )
    async with sqlite_rig(settings, clock) as made:
        yield made.fallback, clock


async def track_due(fallback: Fallback, clock: ManualClock, dialect: str, tasks: list[dict[str, Any]]) -> None:
    """Track the emulator's `tasks` with their creation times, and move the clock to AGE_S after the newest:
    they are all due now."""
    clock.set(max(created_at(t) for t in tasks) + timedelta(seconds=AGE_S))
    await fallback.store.track_tasks(
        [
            fallback.tracker.new(
                PROVIDER[dialect],
                receiver_task_id(dialect, t),
                dialect,
                via="user",
                created_at=created_at(t),
                deadline=clock.now(),
            )
            for t in tasks
        ]
    )


def new_task(emu: Control, dialect: str, to: str | None) -> dict[str, Any]:
    """A task of the dialect's first kind, moved to `to` (PROCESSING, FINISH) or left WAITING (None)."""
    task = emu.create(dialect, kind=SURFACES[dialect].kinds[0])
    return emu.advance(task["task_id"], to) if to else task


def listings(emu: Control, dialect: str) -> list[dict[str, Any]]:
    return [q for q in emu.entries("query") if q["detail"]["action"] == STATUS_LISTING[dialect]]


async def row(fallback: Fallback, dialect: str, task: dict[str, Any]) -> TrackedTask:
    found = await fallback.store.get_tracked(PROVIDER[dialect], receiver_task_id(dialect, task))
    assert found is not None
    return found


# when a listing is worth it ------------------------------------------------------------------------------------


def test_a_listing_needs_two_due_tasks_and_more_than_one_expected_running() -> None:
    assert MIN_DUE == 2
    assert not worth_listing(1, 1.0)  # one due task: a task query is never dearer than a listing
    assert worth_listing(2, 0.6)
    assert not worth_listing(2, 0.5)  # expected to spare one query, for the one request it costs: no gain
    assert worth_listing(3, 0.5)  # a source nothing is known of yet: three due tasks
    assert not worth_listing(10, 0.1)  # most checks found the task finished: a listing would rarely pay
    assert worth_listing(11, 0.1)


def test_the_running_share_follows_the_latest_checks() -> None:
    share = RunningShare()
    assert share.value == 0.5
    for _ in range(10):
        share.note(False)
    assert share.value < 0.2
    for _ in range(10):
        share.note(True)
    assert share.value > 0.6
    with pytest.raises(ValueError, match="weight"):
        RunningShare(weight=0.0)


def test_the_creation_window_is_in_whole_seconds_and_within_retention() -> None:
    now = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)

    def at(created: datetime | None) -> TrackedTask:
        return TrackedTask(
            provider="p", task_id="t", source="s", deadline=now, next_check_at=now, tracked_at=now, created_at=created
        )

    tasks = [at(now - timedelta(seconds=90.4)), at(now - timedelta(seconds=30.7)), at(None)]
    assert creation_window(tasks, now, 3 * 86400.0) == (
        datetime(2026, 1, 10, 11, 58, 29, tzinfo=UTC),
        datetime(2026, 1, 10, 11, 59, 30, tzinfo=UTC),
    )
    old = [at(now - timedelta(days=5)), at(now - timedelta(seconds=10))]  # the listing keeps 3 days: no older
    assert creation_window(old, now, 3 * 86400.0)[0] == now - timedelta(days=3)
    assert creation_window([at(None)], now, 3600.0) == (now - timedelta(hours=1), now + timedelta(seconds=1))


# the scheduler -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("dialect", list(SURFACES))
async def test_one_listing_then_task_queries_only_for_the_finished(tmp_path: Path, emulator: Any, dialect: str) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    running = [new_task(emu, dialect, "PROCESSING") for _ in range(3)]
    finished = [new_task(emu, dialect, "FINISH") for _ in range(3)]
    async with rig(tmp_path, emu, dialect) as (fallback, clock):
        await track_due(fallback, clock, dialect, running + finished)
        listed_at = clock.now()

        await fallback.run_pass(sweep=False)
        assert len(listings(emu, dialect)) == 1
        assert task_queries(emu, dialect) == Counter({t["task_id"]: 1 for t in finished})
        assert (fallback.stats.listings, fallback.stats.spared, fallback.stats.recovered) == (1, 3, 3)
        for task in finished:
            assert (await row(fallback, dialect, task)).state is TrackState.RECOVERED
        for task in running:  # asked again when their age has doubled, as if a task query had found them running
            seen = await row(fallback, dialect, task)
            assert (seen.state, seen.attempts, seen.last_error) == (TrackState.OPEN, 0, None)
            assert seen.next_check_at == listed_at + (listed_at - created_at(task))

        # at their next check they are done; three due, and half the checks so far found the task running: a
        # listing is expected to spare more than one query, and is made; it shows none running: all are asked
        for task in running:
            emu.finish(task["task_id"])
        clock.set(max(r.next_check_at for r in [await row(fallback, dialect, t) for t in running]))
        assert worth_listing(len(running), fallback.sources[dialect].share.value)
        await fallback.run_pass(sweep=False)
        assert len(listings(emu, dialect)) == 2
        assert task_queries(emu, dialect) == Counter({t["task_id"]: 1 for t in running + finished})
        assert [(await row(fallback, dialect, t)).state for t in running] == [TrackState.RECOVERED] * len(running)


@pytest.mark.anyio
async def test_tasks_the_listing_does_not_show_are_queried_waiting_or_gone(tmp_path: Path, emulator: Any) -> None:
    dialect = "tencent-vod-v3"
    emu = emulator(EmulatorConfig(time_scale=0))
    running = [new_task(emu, dialect, "PROCESSING") for _ in range(3)]
    waiting = new_task(emu, dialect, None)  # not processing yet: the listing (Status=PROCESSING) leaves it out
    async with rig(tmp_path, emu, dialect) as (fallback, clock):
        await track_due(fallback, clock, dialect, [*running, waiting])
        # and one the provider no longer keeps (older than its 3 days): the window stops at its retention
        gone = fallback.tracker.new(
            PROVIDER[dialect],
            "1500000000-procedurev2-gone",
            dialect,
            via="user",
            created_at=clock.now() - timedelta(days=4),
            deadline=clock.now(),
        )
        await fallback.store.track_tasks([gone])

        await fallback.run_pass(sweep=False)
        assert len(listings(emu, dialect)) == 1
        # (the emulator's ledger names no task it does not know)
        assert task_queries(emu, dialect) == Counter({waiting["task_id"]: 1, "None": 1})
        assert (await row(fallback, dialect, waiting)).attempts == 1  # asked: still running
        assert (await row(fallback, dialect, waiting)).state is TrackState.OPEN
        lost = await fallback.store.get_tracked(PROVIDER[dialect], gone.task_id)
        assert lost is not None and lost.state is TrackState.LOST
        assert [(await row(fallback, dialect, t)).attempts for t in running] == [0] * len(running)


@pytest.mark.anyio
async def test_a_failed_listing_leaves_the_batch_to_task_queries_and_the_source_for_a_while(
    tmp_path: Path, emulator: Any
) -> None:
    dialect = "tencent-vod-v3"
    emu = emulator(EmulatorConfig(time_scale=0))
    running = [new_task(emu, dialect, "PROCESSING") for _ in range(4)]
    finished = new_task(emu, dialect, "FINISH")
    # every query that names no task (the listing) gets an HTTP 5xx; the tasks' own fault spec spares theirs
    emu.faults(query_5xx=1.0)
    for task in [*running, finished]:
        assert emu.http.post(f"/_emulator/tasks/{task['task_id']}/faults", json={}).status_code == 200
    async with rig(tmp_path, emu, dialect) as (fallback, clock):
        await track_due(fallback, clock, dialect, [*running, finished])
        failed_at = clock.now()

        await fallback.run_pass(sweep=False)
        assert [q["detail"]["outcome"] for q in listings(emu, dialect)] != ["ok"] and len(listings(emu, dialect)) == 1
        assert task_queries(emu, dialect) == Counter({t["task_id"]: 1 for t in [*running, finished]})
        assert (await row(fallback, dialect, finished)).state is TrackState.RECOVERED
        runtime = fallback.sources[dialect]
        assert runtime.listing_paused_until == failed_at + timedelta(seconds=RETRY_AFTER_S)

        # their next check comes before the pause ends: task queries only, although a listing would be worth it
        emu.faults(query_5xx=0.0)
        clock.set(failed_at + timedelta(seconds=2 * AGE_S))
        assert worth_listing(len(running), runtime.share.value)
        await fallback.run_pass(sweep=False)
        assert len(listings(emu, dialect)) == 1
        assert task_queries(emu, dialect) == Counter({**{t["task_id"]: 2 for t in running}, finished["task_id"]: 1})

        # after it, the next batch is listed again
        clock.set(failed_at + timedelta(seconds=RETRY_AFTER_S + 4 * AGE_S))
        assert worth_listing(len(running), runtime.share.value)
        await fallback.run_pass(sweep=False)
        assert [q["detail"]["outcome"] for q in listings(emu, dialect)][1:] == ["ok"]
        assert task_queries(emu, dialect) == Counter({**{t["task_id"]: 2 for t in running}, finished["task_id"]: 1})


@pytest.mark.anyio
async def test_a_single_due_task_gets_a_task_query_not_a_listing(tmp_path: Path, emulator: Any) -> None:
    dialect = "tencent-mps"
    emu = emulator(EmulatorConfig(time_scale=0))
    task = new_task(emu, dialect, "PROCESSING")
    async with rig(tmp_path, emu, dialect) as (fallback, clock):
        await track_due(fallback, clock, dialect, [task])
        assert await fallback.run_pass(sweep=False) == 1
        assert listings(emu, dialect) == []
        assert task_queries(emu, dialect) == Counter({task["task_id"]: 1})


@pytest.mark.anyio
async def test_a_listing_that_pays_for_itself_goes_on_to_its_next_page(tmp_path: Path, emulator: Any) -> None:
    dialect = "tencent-vod-v3"
    emu = emulator(EmulatorConfig(time_scale=0))
    running = [new_task(emu, dialect, "PROCESSING") for _ in range(103)]  # DescribeTasks pages hold 100
    async with rig(tmp_path, emu, dialect) as (fallback, clock):
        await track_due(fallback, clock, dialect, running)
        assert await fallback.run_pass(sweep=False) == 2  # two pages, no task query
        assert len(listings(emu, dialect)) == 2
        assert task_queries(emu, dialect) == Counter()
        assert fallback.stats.spared == len(running)


@pytest.mark.anyio
async def test_a_task_whose_callback_is_held_is_queried_though_the_listing_shows_it_running(
    tmp_path: Path, emulator: Any
) -> None:
    """A confirming source holds a terminal callback until a task query judges it: the listing cannot."""
    dialect = "tencent-vod-v2"
    emu = emulator(EmulatorConfig(time_scale=0))
    running = [emu.advance(emu.create(dialect, kind="transcode")["task_id"], "PROCESSING") for _ in range(4)]
    settings = fallback_settings(
        tmp_path, emu, dialect, source={"sweep": False}, backoff_base_s=1.0, backoff_max_s=3600.0
    )
    settings = settings.model_copy(
        update={
            "sources": {
                # no grace: a "running" answer refutes the held callback at once
                **settings.sources,
                dialect: settings.sources[dialect].model_copy(update={"confirm": True, "confirm_grace_s": 0.0}),
            }
        }
    )
    async with rig(tmp_path, emu, dialect, settings) as (fallback, clock):
        await track_due(fallback, clock, dialect, running)
        forged = json.loads((FIXTURES / dialect / "TranscodeComplete.json").read_text())
        forged["data"]["vodTaskId"] = running[0]["task_id"]  # "finished", says a callback: held, due now
        await fallback.pipeline.ingest_document(dialect, forged, json.dumps(forged).encode(), Origin.CALLBACK)

        await fallback.run_pass(sweep=False)
        assert len(listings(emu, dialect)) == 1
        assert task_queries(emu, dialect) == Counter({running[0]["task_id"]: 1})  # the others: spared
        assert (fallback.stats.spared, fallback.stats.unconfirmed) == (3, 1)  # the provider says it is running

"""When a task a query found still running is asked again: when its age has doubled (`receiver.fallback.pacing`),
within backoff_base_s..backoff_max_s; errors keep the doubling per attempt.

The scheduler tests run a real legacy-VOD emulator (its clock frozen, so a task stays unfinished until the test
finishes it) and a real SQLite store, on a manual receiver clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.clock import ManualClock
from receiver.emulator.config import EmulatorConfig
from receiver.fallback.pacing import recheck_wait, task_age_s
from receiver.fallback.scheduler import Fallback
from receiver.store.base import TrackedTask, TrackState
from tests.fallback.conftest import fallback_settings, sqlite_rig

pytestmark = pytest.mark.timeout(120)

DIALECT = "tencent-vod-v2"
PROVIDER = "tencent-vod"
DEADLINE_S = 60.0


def test_the_wait_is_the_tasks_age_within_the_configured_bounds() -> None:
    assert recheck_wait(60.0, 1.0, 3600.0) == timedelta(seconds=60)  # asked again when its age has doubled
    assert recheck_wait(600.0, 1.0, 3600.0) == timedelta(seconds=600)
    assert recheck_wait(0.2, 1.0, 3600.0) == timedelta(seconds=1)  # never sooner than the base
    assert recheck_wait(-30.0, 1.0, 3600.0) == timedelta(seconds=1)  # a creation time ahead of our clock
    assert recheck_wait(86400.0, 1.0, 3600.0) == timedelta(seconds=3600)  # never later than the cap


def test_the_age_counts_from_the_creation_or_else_from_when_tracking_began() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    row = TrackedTask(
        provider=PROVIDER,
        task_id="t",
        source=DIALECT,
        deadline=now,
        next_check_at=now,
        tracked_at=now - timedelta(seconds=30),
    )
    assert task_age_s(row, now) == 30.0
    created = TrackedTask(**{**row.__dict__, "created_at": now - timedelta(seconds=90)})
    assert task_age_s(created, now) == 90.0


@pytest.fixture
async def rig(tmp_path: Path, emulator: Any) -> AsyncIterator[tuple[Fallback, Any, ManualClock]]:
    emu = emulator(EmulatorConfig(time_scale=0))
    clock = ManualClock(datetime.now(UTC))
    settings = fallback_settings(
        tmp_path, emu, DIALECT, source={"sweep": False}, backoff_base_s=1.0, backoff_max_s=3600.0
    )
    async with sqlite_rig(settings, clock) as made:
        yield made.fallback, emu, clock


def asked(emu: Any, task_id: str) -> int:
    return sum(1 for q in emu.entries("query") if q["task_id"] == task_id and q["detail"]["action"] == "GetTaskInfo")


async def track(fallback: Fallback, task_id: str, created_at: datetime, deadline: datetime) -> None:
    """Track `task_id` as `vodhook tasks track` does: created at `created_at`, its callback due by `deadline`."""
    task = fallback.tracker.new(PROVIDER, task_id, DIALECT, via="user", created_at=created_at, deadline=deadline)
    await fallback.store.track_tasks([task])


@pytest.mark.anyio
async def test_a_task_running_at_its_deadline_is_asked_again_when_its_age_has_doubled(
    rig: tuple[Fallback, Any, ManualClock],
) -> None:
    fallback, emu, clock = rig
    task = emu.create(DIALECT, kind="transcode")  # frozen emulator clock: it stays unfinished
    created = clock.now()
    await track(fallback, task["task_id"], created, created + timedelta(seconds=DEADLINE_S))

    clock.set(created + timedelta(seconds=DEADLINE_S))
    assert await fallback.run_pass(sweep=False) == 1  # due: asked, still running
    row = await fallback.store.get_tracked(PROVIDER, task["task_id"])
    assert row is not None and row.state is TrackState.OPEN and row.attempts == 1
    assert row.next_check_at == created + timedelta(seconds=2 * DEADLINE_S)  # not base_s = 1 s later

    emu.finish(task["task_id"])
    clock.set(created + timedelta(seconds=2 * DEADLINE_S - 1))
    assert await fallback.run_pass(sweep=False) == 0  # a second early: nobody asks
    clock.set(created + timedelta(seconds=2 * DEADLINE_S))
    assert await fallback.run_pass(sweep=False) == 1
    row = await fallback.store.get_tracked(PROVIDER, task["task_id"])
    assert row is not None and row.state is TrackState.RECOVERED and row.attempts == 2
    assert asked(emu, task["task_id"]) == 2
    assert fallback.stats.recovery_delays_s == [DEADLINE_S]


@pytest.mark.anyio
async def test_a_long_running_task_is_asked_again_no_later_than_backoff_max(
    rig: tuple[Fallback, Any, ManualClock],
) -> None:
    fallback, emu, clock = rig
    task = emu.create(DIALECT, kind="transcode")
    now = clock.now()
    created = now - timedelta(days=1)  # registered by a user a day after it was created
    await track(fallback, task["task_id"], created, now)
    assert await fallback.run_pass(sweep=False) == 1
    row = await fallback.store.get_tracked(PROVIDER, task["task_id"])
    assert row is not None and row.next_check_at == now + timedelta(seconds=3600)


@pytest.mark.anyio
async def test_a_not_found_answer_keeps_the_doubling_backoff(rig: tuple[Fallback, Any, ManualClock]) -> None:
    fallback, _, clock = rig
    now = clock.now()
    created = now - timedelta(hours=1)  # an hour old: the age rule would wait an hour; not-found is no progress
    await track(fallback, "never-indexed-yet", created, now)
    waits = []
    for _ in range(3):
        assert await fallback.run_pass(sweep=False) == 1
        row = await fallback.store.get_tracked(PROVIDER, "never-indexed-yet")
        assert row is not None and row.state is TrackState.OPEN
        waits.append((row.next_check_at - clock.now()).total_seconds())
        clock.set(row.next_check_at)
    assert waits == [1.0, 2.0, 4.0]

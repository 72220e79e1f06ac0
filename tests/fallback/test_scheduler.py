"""The fallback scheduler under concurrency and failure, with real stores and a real emulator.

- the lease: one scheduler leads; a leader that cannot renew stops querying before its lease could pass on;
  the other takes over once it has expired;
- the pull loop pulls only on the leader;
- the re-check: a task a callback finished while the scheduler waited for its token is not queried;
- priority and limits: many overdue tasks at once (30; 2000) are queried oldest deadline first, and the
  emulator's ledger never shows more than `rate + burst` queries in any one-second window.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.clock import ManualClock, SystemClock
from receiver.config import load_settings
from receiver.emulator.config import CredentialConfig, DialectConfig, EmulatorConfig
from receiver.fallback import batch, scheduler
from receiver.fallback.scheduler import LEASE, Fallback
from receiver.model import Origin
from receiver.store.base import Store, TrackedTask, TrackState
from receiver.store.sqlite import SqliteStore
from tests.conftest import FIXTURES, free_port
from tests.emulator.conftest import Control
from tests.fallback.conftest import Rig, busiest_window, fallback_settings, ledger_time, make_rig
from tests.store.conftest import Place, place  # noqa: F401  (the fixture, re-exported)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

DIALECT = "tencent-vod-v2"
PROVIDER = "tencent-vod"


@pytest.fixture
async def rigs() -> AsyncIterator[list[Rig]]:
    """Rigs the test builds; stopped and closed at the end."""
    made: list[Rig] = []
    try:
        yield made
    finally:
        for rig in made:
            await rig.fallback.stop()
            await rig.store.close()


def track(fallback: Fallback, task_id: str, deadline: datetime, **fields: Any) -> TrackedTask:
    return fallback.tracker.new(PROVIDER, task_id, DIALECT, via="user", deadline=deadline, **fields)


def queries(emu: Control, action: str = "GetTaskInfo") -> list[dict[str, Any]]:
    return [q for q in emu.entries("query") if q["detail"]["action"] == action]


def finished_tasks(emu: Control, count: int) -> list[dict[str, Any]]:
    """`count` legacy tasks that finished at the emulator (nobody hears of it: no callback URL)."""
    created = [emu.create(DIALECT, kind="transcode") for _ in range(count)]
    for task in created:
        emu.finish(task["task_id"])
    return created


# the lease ---------------------------------------------------------------------------------------------------


async def test_one_scheduler_leads_and_a_stalled_leader_stops_before_its_lease_can_pass_on(
    tmp_path: Path,
    place: Place,  # noqa: F811
    emulator: Any,
    rigs: list[Rig],
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    clock = ManualClock(datetime.now(UTC))
    settings = fallback_settings(tmp_path, emu, DIALECT, source={"sweep": False})
    one = await make_rig(settings, place.make(clock), clock)
    two = await make_rig(settings, place.make(clock), clock)
    rigs.extend([one, two])
    for rig in rigs:
        rig.fallback.require_lease()  # what `start` does: every query needs the lease
    tasks = finished_tasks(emu, 4)
    now = clock.now()
    await one.store.track_tasks(
        [track(one.fallback, t["task_id"], now - timedelta(minutes=10 - n)) for n, t in enumerate(tasks)]
    )

    assert await one.fallback.lead() is True
    assert await two.fallback.lead() is False  # one scheduler per store
    assert await one.store.lease_holder(LEASE) == one.fallback.holder
    assert await two.fallback.run_pass() == 0  # not leading: no query goes out
    assert emu.entries("query") == []  # not even the status listing four due tasks would be worth (`batch`)

    # `one` leads; it renews a third of the way in, and its proof runs to TTL minus the margin
    ttl = scheduler.LEASE_TTL_S
    lease = one.fallback.lease
    assert lease.valid_until == now + timedelta(seconds=ttl - lease.margin_s)
    clock.advance(lease.renew_every_s)
    assert await lease.keep() is True
    renewed = clock.now()
    assert lease.valid_until == renewed + timedelta(seconds=ttl - lease.margin_s)

    # `one` stalls (no renewal) until the margin begins: still named the holder in the store, but it stops
    clock.set(renewed + timedelta(seconds=ttl - lease.margin_s))
    assert await one.store.lease_holder(LEASE) == one.fallback.holder
    assert one.fallback.leading is False
    assert await one.fallback.run_pass() == 0
    assert emu.entries("query") == []
    assert await two.fallback.lead() is False  # the store still has it as `one`'s: nobody else queries either

    # the lease expires in the store: `two` takes over and serves the overdue tasks, oldest deadline first
    clock.set(renewed + timedelta(seconds=ttl))
    assert await two.fallback.lead() is True
    assert await two.fallback.run_pass() == 1 + len(tasks)  # the status listing (none running), then each task
    assert [q["task_id"] for q in queries(emu)] == [t["task_id"] for t in tasks]
    assert emu.entries("query")[0]["detail"]["action"] == "GetTaskList"
    # `one` comes back: its renewal is refused (another holder), so it stays out
    assert await one.fallback.lease.keep() is False
    assert await one.fallback.lead() is False
    assert one.fallback.stats.queries == 0


async def test_a_leader_whose_store_is_down_stops_on_time_and_the_other_takes_over_after_expiry(
    tmp_path: Path,
    place: Place,  # noqa: F811
    emulator: Any,
    rigs: list[Rig],
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    clock = ManualClock(datetime.now(UTC))
    settings = fallback_settings(tmp_path, emu, DIALECT, source={"sweep": False})
    one = await make_rig(settings, place.make(clock), clock)
    two = await make_rig(settings, place.make(clock), clock)
    rigs.extend([one, two])
    lease = one.fallback.lease
    assert await one.fallback.lead() is True
    start = clock.now()
    await one.store.close()  # `one` can no longer reach its store: renewals fail

    clock.advance(lease.renew_every_s)
    assert await lease.keep() is True  # the renewal failed, but the proof it has still runs
    assert lease.failures == 1
    clock.set(start + timedelta(seconds=lease.ttl_s - lease.margin_s) - timedelta(milliseconds=1))
    assert lease.held() is True
    assert await lease.keep() is True and lease.failures == 2
    clock.advance(0.001)  # the margin begins: `one` stops, well before the store lets anybody else in
    assert lease.held() is False and one.fallback.leading is False
    assert await lease.keep() is False

    assert await two.fallback.lead() is False
    clock.set(start + timedelta(seconds=lease.ttl_s) - timedelta(milliseconds=1))
    assert await two.fallback.lead() is False
    clock.advance(0.001)
    assert await two.fallback.lead() is True
    assert await two.store.lease_holder(LEASE) == two.fallback.holder
    await one.fallback.stop()  # gives nothing back (its store is gone), and does not fail for it
    assert await two.store.lease_holder(LEASE) == two.fallback.holder


async def test_two_serving_schedulers_on_one_sqlite_store_one_queries_the_other_takes_over(
    tmp_path: Path, emulator: Any, rigs: list[Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler, "LEASE_TTL_S", 3.0)
    emu = emulator(EmulatorConfig(time_scale=0))
    clock = SystemClock()
    settings = fallback_settings(tmp_path, emu, DIALECT, source={"sweep": False})
    one = await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock)
    two = await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock)
    rigs.extend([one, two])
    first = finished_tasks(emu, 5)
    await one.store.track_tasks([track(one.fallback, t["task_id"], clock.now()) for t in first])
    await one.fallback.start()
    await two.fallback.start()

    async def closed(store: Store, ids: list[str]) -> bool:
        rows = [await store.get_tracked(PROVIDER, task_id) for task_id in ids]
        return all(row is not None and row.state is TrackState.RECOVERED for row in rows)

    await wait_for(lambda: closed(one.store, [t["task_id"] for t in first]))
    leader, other = (one, two) if one.fallback.stats.queries else (two, one)
    assert other.fallback.stats.queries == 0
    assert leader.fallback.stats.queries == len(first) + leader.fallback.stats.listings
    assert await leader.store.lease_holder(LEASE) == leader.fallback.holder

    await leader.fallback.stop()  # a clean stop gives the lease back: the other takes it at its next tick
    second = finished_tasks(emu, 3)
    await other.store.track_tasks([track(other.fallback, t["task_id"], clock.now()) for t in second])
    await wait_for(lambda: closed(other.store, [t["task_id"] for t in second]))
    assert other.fallback.stats.queries == len(second) + other.fallback.stats.listings
    assert len(queries(emu)) == len(first) + len(second)  # nobody queried a task twice


async def test_only_the_leader_pulls_events(tmp_path: Path, emulator: Any, rigs: list[Rig]) -> None:
    config = EmulatorConfig(
        time_scale=0,
        pull_wait_s=0.2,
        dialects={DIALECT: DialectConfig(mode="pull")},
        credentials=[CredentialConfig(secret_id=f"id-{n}", secret_key=f"key-{n}") for n in range(2)],
    )
    emu = emulator(config)
    clock = SystemClock()
    made = []
    for n in range(2):  # each its own credentials, so the ledger says who pulled
        source = {"sweep": False, "pull": True, "secret_id": f"id-{n}", "secret_key": f"key-{n}"}
        settings = fallback_settings(tmp_path, emu, DIALECT, source=source, deadline_s=3600.0)
        made.append(await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock))
    rigs.extend(made)
    assert await made[0].fallback.lead() is True  # `0` leads before either serves
    for rig in made:
        await rig.fallback.start()
    created = finished_tasks(emu, 4)

    async def all_pulled() -> bool:
        tasks = [await made[0].store.get_task(PROVIDER, t["task_id"]) for t in created]
        return all(task is not None and task.status == "finished" for task in tasks)

    await wait_for(all_pulled)

    async def pulled_again() -> bool:  # long enough for a follower that pulls to have pulled too
        return len([q for q in queries(emu, "PullEvent") if q["detail"]["caller"] == "id-0"]) >= 5

    await wait_for(pulled_again)
    callers = {q["detail"]["caller"] for q in queries(emu, "PullEvent")}
    assert callers == {"id-0"}
    assert made[1].fallback.stats.pulled == 0 and made[0].fallback.stats.pulled == len(created)


async def wait_for(condition: Callable[[], Any], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# the re-check before a query -----------------------------------------------------------------------------


async def test_a_task_a_callback_finished_while_its_token_was_awaited_is_not_queried(
    tmp_path: Path, emulator: Any, rigs: list[Rig]
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    clock = SystemClock()
    # a tiny rate: after the first token, the next one is 5 s away
    settings = fallback_settings(tmp_path, emu, DIALECT, source={"sweep": False, "rate_per_s": 0.2, "burst": 1})
    rig = await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock)
    rigs.append(rig)
    fallback = rig.fallback
    first, late = finished_tasks(emu, 2)
    now = clock.now()
    await rig.store.track_tasks(
        [track(fallback, first["task_id"], now - timedelta(seconds=2)), track(fallback, late["task_id"], now)]
    )
    # the late task's callback is already captured, but it is processed only after the scheduler listed the
    # task: the scheduler waits for its token meanwhile
    bucket = fallback.sources[DIALECT].bucket
    passing = asyncio.create_task(fallback.run_pass())
    while bucket.waits == 0:
        await asyncio.sleep(0.01)
    token_at = time.monotonic() + bucket.last_wait_s
    assert [q["task_id"] for q in queries(emu)] == [first["task_id"]]
    callback = json.loads((FIXTURES / DIALECT / "TranscodeComplete.json").read_text())
    callback["data"]["vodTaskId"] = late["task_id"]
    body = json.dumps(callback).encode()
    await rig.fallback.pipeline.ingest_document(DIALECT, callback, body, Origin.CALLBACK)
    # the precondition this test stands on: the callback was in before the scheduler's token came
    assert time.monotonic() < token_at, "the callback took longer than the token wait: use a smaller rate"
    assert await passing == 1
    assert [q["task_id"] for q in queries(emu)] == [first["task_id"]]  # the late task was not queried
    assert fallback.stats.skipped == 1
    row = await rig.store.get_tracked(PROVIDER, late["task_id"])
    assert row is not None and row.state is TrackState.DONE and row.attempts == 0


# priority and limits -----------------------------------------------------------------------------------------


async def test_thirty_overdue_tasks_are_queried_oldest_deadline_first_within_the_limit(
    tmp_path: Path, emulator: Any, rigs: list[Rig]
) -> None:
    emu = emulator(EmulatorConfig(time_scale=1))  # the ledger's clock runs: its times are when queries came
    clock = SystemClock()
    rate, burst = 2.0, 2.0
    settings = fallback_settings(tmp_path, emu, DIALECT, source={"sweep": False, "rate_per_s": rate, "burst": burst})
    rig = await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock)
    rigs.append(rig)
    tasks = finished_tasks(emu, 30)
    now = clock.now()
    deadlines = {t["task_id"]: now - timedelta(seconds=n * 7.0) for n, t in enumerate(tasks)}
    shuffled = list(tasks)
    random.Random(5).shuffle(shuffled)
    await rig.store.track_tasks([track(rig.fallback, t["task_id"], deadlines[t["task_id"]]) for t in shuffled])

    assert await rig.fallback.run_pass() == len(tasks) + rig.fallback.stats.listings
    asked = queries(emu)
    assert [q["task_id"] for q in asked] == sorted(deadlines, key=lambda task_id: deadlines[task_id])
    assert all(q["detail"]["outcome"] == "ok" for q in emu.entries("query"))
    # a status listing first (30 due at once; it shows none running), paid from the same bucket
    assert rig.fallback.stats.listings == 1
    assert busiest_window([ledger_time(q) for q in emu.entries("query")]) <= rate + burst
    assert rig.fallback.stats.recovered == len(tasks)


class EmulatorProcess:
    """`vodhook emulate` in a process of its own (an emulator in the test's process shares its GIL, which
    slows each query some 20 times: too slow for thousands of them)."""

    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "receiver", "emulate", "--port", str(self.port), *flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = httpx.Client(base_url=self.url, timeout=60.0)
        deadline = time.monotonic() + 60.0
        while True:
            try:
                self.http.get("/_emulator/ledger", params={"kind": "none"}).raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.close()
                    raise AssertionError("the emulator process did not come up") from None
                time.sleep(0.1)

    def create(self, dialect: str, **fields: Any) -> str:
        answer = self.http.post("/_emulator/tasks", json={"dialect": dialect, **fields})
        assert answer.status_code == 201, answer.text
        task_id: str = answer.json()["task_id"]
        return task_id

    def entries(self, kind: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.http.get("/_emulator/ledger", params={"kind": kind}).json()["entries"]
        return found

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def emulator_process() -> Iterator[Callable[..., EmulatorProcess]]:
    started: list[EmulatorProcess] = []

    def start(*flags: str) -> EmulatorProcess:
        started.append(EmulatorProcess(*flags))
        return started[-1]

    try:
        yield start
    finally:
        for emu in started:
            emu.close()


async def test_two_thousand_overdue_tasks_oldest_deadline_first_never_over_the_limit(
    tmp_path: Path, emulator_process: Callable[..., EmulatorProcess], rigs: list[Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    # task queries alone: a status listing would spare the tasks it shows running (tests/fallback/test_batch.py)
    monkeypatch.setattr(batch, "MIN_DUE", 10**9)
    # the emulator's own limit (legacy: 100/min) is off: the receiver's bucket is what is under test
    emu = emulator_process("--time-scale", "1", "--no-rate-limits")
    clock = SystemClock()
    rate, burst = 150.0, 15.0
    settings = load_settings(
        data_dir=tmp_path / "data",
        fallback={
            "enabled": True,
            "sources": {
                DIALECT: {
                    "secret_id": "test",
                    "secret_key": "test",
                    "endpoint": emu.url,
                    "sweep": False,
                    "rate_per_s": rate,
                    "burst": burst,
                }
            },
            "backoff_base_s": 3600.0,
            "backoff_max_s": 7200.0,
        },
    )
    rig = await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock)
    rigs.append(rig)
    count = 2000
    created = [emu.create(DIALECT, kind="transcode") for _ in range(count)]  # still processing
    now = clock.now()
    order = list(range(count))
    random.Random(7).shuffle(order)  # deadlines in no relation to creation or tracking order
    deadlines = {task_id: now - timedelta(seconds=1 + order[n]) for n, task_id in enumerate(created)}
    tracked = [track(rig.fallback, task_id, deadlines[task_id]) for task_id in created]
    random.Random(8).shuffle(tracked)
    assert await rig.store.track_tasks(tracked) == count

    assert await rig.fallback.run_pass() == count
    asked = [q for q in emu.entries("query") if q["detail"]["action"] == "GetTaskInfo"]
    assert all(q["detail"]["outcome"] == "ok" for q in asked)
    assert [q["task_id"] for q in asked] == sorted(deadlines, key=lambda task_id: deadlines[task_id])
    assert busiest_window([ledger_time(q) for q in asked]) <= rate + burst
    counts = await rig.store.tracked_counts(clock.now())
    # the emulator's clock runs, so the later ones had finished when asked; the others back off for an hour
    assert counts["open"] + counts["recovered"] == count and counts["recovered"] == rig.fallback.stats.recovered

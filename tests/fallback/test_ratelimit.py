"""The account's token bucket: shared by OS processes through the store, paused by the provider's rate-limit
answers (for every process sharing it), and closed by its gate when the scheduler lost its lease."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.clock import ManualClock, SystemClock
from receiver.emulator.config import EmulatorConfig
from receiver.fallback.ratelimit import AccountBucket, QueryGateClosed
from receiver.store.base import Store, TrackState
from receiver.store.sqlite import SqliteStore
from tests.fallback.conftest import busiest_window, fallback_settings, ledger_time
from tests.fallback.test_scheduler import (
    DIALECT,
    PROVIDER,
    Rig,
    finished_tasks,
    make_rig,
    queries,
    rigs,  # noqa: F401  (the fixture, re-exported)
    track,
)
from tests.store.conftest import pg_schema

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parent.parent.parent

#: One process drawing `count` tokens from bucket `name` in the store at `where` (an SQLite file or a
#: PostgreSQL URL), once its partner is ready too. Prints, per token, when the store granted it (the
#: store's clock at the reservation + the wait it asked for) and when the process went ahead.
DRAWER = """
import asyncio, json, sys, time
from pathlib import Path
from receiver.clock import SystemClock
from receiver.fallback.ratelimit import AccountBucket

class Witness(SystemClock):
    last = None

    def now(self):
        self.last = super().now()
        return self.last

async def main(where, name, rate, burst, count, ready, partner):
    clock = Witness()
    if where.startswith("postgresql://"):
        from receiver.store.postgres import PostgresStore
        store = PostgresStore(where, clock)
    else:
        from receiver.store.sqlite import SqliteStore
        store = SqliteStore(Path(where), clock)
    await store.open()
    bucket = AccountBucket(store, name, float(rate), float(burst))
    Path(ready).touch()
    while not Path(partner).exists():
        await asyncio.sleep(0.01)
    drawn = []
    for _ in range(int(count)):
        await bucket.acquire()
        drawn.append({"granted": clock.last.timestamp() + bucket.last_wait_s, "went": time.time()})
    await store.close()
    print(json.dumps(drawn))

asyncio.run(main(*sys.argv[1:]))
"""


@contextmanager
def store_place(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield str(tmp_path / "data" / "vodhook.sqlite3")
    else:
        with pg_schema() as url:
            yield url


async def prepared(where: str) -> None:
    """Create the schema once, before the processes start (they would otherwise both migrate at once)."""
    store: Store
    if where.startswith("postgresql://"):
        from receiver.store.postgres import PostgresStore

        store = PostgresStore(where)
    else:
        store = SqliteStore(Path(where))
    await store.open()
    await store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_two_processes_sharing_a_bucket_never_exceed_rate_plus_burst(kind: str, tmp_path: Path) -> None:
    rate, burst, each = 5.0, 2.0, 15
    with store_place(kind, tmp_path) as where:
        await prepared(where)
        ready = [tmp_path / "ready-0", tmp_path / "ready-1"]
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                DRAWER,
                where,
                "aliyun-vod:AK",
                str(rate),
                str(burst),
                str(each),
                str(ready[n]),
                str(ready[1 - n]),
                cwd=REPO,
                stdout=subprocess.PIPE,
            )
            for n in range(2)
        ]
        outputs = [await asyncio.wait_for(p.communicate(), timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    drawn = [json.loads(out) for out, _ in outputs]
    assert [len(d) for d in drawn] == [each, each]
    granted = [[item["granted"] for item in d] for d in drawn]
    # the two really drew at the same time: their grants interleave
    assert max(min(g) for g in granted) < min(max(g) for g in granted)
    times = [datetime.fromtimestamp(t, UTC) for g in granted for t in g]
    assert busiest_window(times) <= rate + burst
    # together they went at the bucket's rate (one bucket, not one each): the last grant came no sooner
    total = 2 * each
    assert max(max(g) for g in granted) - min(min(g) for g in granted) >= (total - burst) / rate - 1e-6
    # and each process went ahead only once its grant had come
    assert all(item["went"] >= item["granted"] - 0.01 for d in drawn for item in d)


# the provider's rate-limit answers ---------------------------------------------------------------------------


@pytest.fixture
async def two_buckets(tmp_path: Path) -> AsyncIterator[tuple[AccountBucket, AccountBucket]]:
    """Two processes' views of one account's bucket: two stores on one SQLite file, on a clock that stands still
    (so the store's waits are exact)."""
    clock = ManualClock()
    stores = [SqliteStore(tmp_path / "vodhook.sqlite3", clock) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        yield AccountBucket(stores[0], "acct", 2.0, 2.0), AccountBucket(stores[1], "acct", 2.0, 2.0)
    finally:
        for store in stores:
            await store.close()


async def test_a_rate_limit_answer_pauses_every_process_sharing_the_bucket(
    two_buckets: tuple[AccountBucket, AccountBucket],
) -> None:
    mine, theirs = two_buckets
    assert mine.base_pause_s == 1.0  # a burst of 2 at 2/s refills in 1 s
    mine.rate_limited()
    assert (mine.pauses, mine.pause_s) == (1, 1.0)
    await mine.share_pause()  # what the next acquire does first
    # the other process's next grant comes after the pause (less the microseconds since the answer)
    wait = await theirs.store.take_tokens(theirs.name, theirs.rate_per_s, theirs.burst)
    assert 0.9 < wait <= 1.0
    await mine.share_pause()  # told once: a second call reserves nothing more
    assert await theirs.store.take_tokens(theirs.name, 2.0, 2.0) == pytest.approx(wait + 0.5)


async def test_rate_limit_answers_one_after_another_double_the_pause_up_to_its_cap(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "vodhook.sqlite3", ManualClock())
    await store.open()
    try:
        bucket = AccountBucket(store, "acct", 10.0, 10.0, pause_max_s=5.0)
        pauses = []
        for _ in range(5):
            bucket.rate_limited()
            pauses.append(bucket.pause_s)
        assert pauses == [1.0, 2.0, 4.0, 5.0, 5.0]
        quiet = AccountBucket(store, "other", 10.0, 10.0)
        quiet.rate_limited()
        await asyncio.sleep(2.05)  # the pause (1 s) ended a pause-length ago: the account is calm again
        quiet.rate_limited()
        assert quiet.pause_s == 1.0
    finally:
        await store.close()


async def test_a_closed_gate_refuses_before_taking_a_token(two_buckets: tuple[AccountBucket, AccountBucket]) -> None:
    bucket, other = two_buckets
    bucket.gate = lambda: False
    with pytest.raises(QueryGateClosed, match="fallback:acct"):
        await bucket.acquire()
    bucket.gate = lambda: True
    await bucket.acquire()
    await bucket.acquire()  # the burst of 2 is still whole: the refused call took nothing
    assert bucket.waits == 0
    assert await other.store.take_tokens(other.name, 2.0, 2.0) == pytest.approx(0.5)


async def test_the_scheduler_backs_off_on_the_emulators_rate_limit_answers(
    tmp_path: Path,
    emulator: Any,
    rigs: list[Rig],  # noqa: F811
) -> None:
    # every query the emulator serves is rate limited with probability 0.35, reproducibly from the seed
    emu = emulator(EmulatorConfig(time_scale=1, seed=3, faults={"query_rate_limit": 0.35}))
    clock = SystemClock()
    settings = fallback_settings(tmp_path, emu, DIALECT, source={"sweep": False, "rate_per_s": 20.0, "burst": 5.0})
    rig = await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock)
    rigs.append(rig)
    fallback = rig.fallback
    tasks = finished_tasks(emu, 10)
    now = clock.now()
    deadlines = {t["task_id"]: now - timedelta(seconds=100 - n) for n, t in enumerate(tasks)}
    await rig.store.track_tasks([track(fallback, task_id, due) for task_id, due in deadlines.items()])

    give_up = time.monotonic() + 120
    while (await rig.store.tracked_counts(clock.now()))["recovered"] < len(tasks):
        # a rate-limit answer ends a pass; the next one starts from the oldest again (as the serving loop's next
        # tick would)
        if await fallback.run_pass() == 0:
            await asyncio.sleep(0.05)
        assert time.monotonic() < give_up, "not every task was recovered in time"
    asked = queries(emu)
    limited = [q for q in asked if q["detail"]["outcome"] == "error:4400"]
    assert limited, "the seed gave no rate-limit answer: pick another"
    assert fallback.stats.rate_limited == len(limited)
    assert fallback.sources[DIALECT].bucket.pauses == len(limited)
    # after each rate-limit answer, the next query came no sooner than the (first) pause
    base = fallback.sources[DIALECT].bucket.base_pause_s
    for answer, following in itertools.pairwise(asked):
        if answer["detail"]["outcome"] == "error:4400":
            assert ledger_time(following) - ledger_time(answer) >= timedelta(seconds=base)
    # a rate-limit answer is not held against the task: it stays first in line, and costs it no attempt
    ok = [q["task_id"] for q in asked if q["detail"]["outcome"] == "ok"]
    assert ok == sorted(deadlines, key=lambda task_id: deadlines[task_id])
    for task_id in deadlines:
        row = await rig.store.get_tracked(PROVIDER, task_id)
        assert row is not None and row.state is TrackState.RECOVERED and row.attempts == 1
    assert busiest_window([ledger_time(q) for q in asked]) <= 20.0 + 5.0

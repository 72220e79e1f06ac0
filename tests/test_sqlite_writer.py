"""The SQLite writer thread: it survives callers that give up while their write waits in its queue, and it
takes the captures waiting for it in one job, which a failed transaction answers rather than strands. Its
commits sync at FULL, but for the processing worker's store (NORMAL: `SqliteStore`'s docstring says why)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from receiver.app import open_store
from receiver.clock import SystemClock
from receiver.config import load_settings
from receiver.store.base import StoreUnavailable
from receiver.store.sqlite import SqliteStore
from tests.store.test_store_contract import new_capture


@asynccontextmanager
async def opened(tmp_path: Path, *, derived_writes: bool = False) -> AsyncIterator[SqliteStore]:
    """The store `vodhook serve` opens in `tmp_path` (the processing worker's with `derived_writes`)."""
    store = open_store(load_settings(data_dir=tmp_path), SystemClock(), derived_writes=derived_writes)
    assert isinstance(store, SqliteStore)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def hold_writer(store: SqliteStore) -> asyncio.Future[None]:
    """A write that keeps the writer thread busy for 0.2 s, running once this returns: what comes next waits."""

    def slow(conn: sqlite3.Connection) -> None:
        time.sleep(0.2)

    busy = asyncio.ensure_future(store._write(slow))
    await asyncio.sleep(0.05)
    return busy


@pytest.mark.anyio
async def test_a_write_cancelled_while_queued_is_skipped_and_the_writer_lives_on(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        busy = await hold_writer(store)

        def mark(conn: sqlite3.Connection) -> int:
            conn.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")
            conn.execute("INSERT INTO marks VALUES (2)")
            return 2

        cancelled = asyncio.ensure_future(store._write(mark))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await busy
        assert await store._write(lambda conn: 3) == 3  # the writer still serves
        assert await store.ping()
        rows = await store._read(
            lambda conn: conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'marks'").fetchone()[0]
        )
        assert rows == 0  # the cancelled write never ran


@pytest.mark.anyio
async def test_captures_that_wait_for_the_writer_are_committed_together_and_a_gone_caller_is_left_out(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path) as store:
        busy = await hold_writer(store)
        commits = store.commits
        waiting = [asyncio.ensure_future(store.capture(new_capture(f'{{"n":{n}}}'.encode()))) for n in range(40)]
        await asyncio.sleep(0.01)
        waiting[7].cancel()  # its client went away while the capture waited
        await busy
        ids = await asyncio.gather(*waiting[:7], *waiting[8:])
        assert store.commits == commits + 2  # the held write's, then one for the 39 captures
        assert len(set(ids)) == 39
        stored = [bytes(capture.body) for capture in await store.pending_captures(limit=100)]
        assert stored == [f'{{"n":{n}}}'.encode() for n in range(40) if n != 7]


@pytest.mark.anyio
async def test_a_transaction_that_fails_before_the_captures_job_runs_fails_those_captures_and_the_next_commits(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path) as store:
        busy = await hold_writer(store)

        def breaks_the_transaction(conn: sqlite3.Connection) -> None:
            conn.execute("COMMIT")  # ends the writer's transaction under its savepoints: the batch fails

        broken = asyncio.ensure_future(store._write(breaks_the_transaction))
        await asyncio.sleep(0.01)
        stranded = [asyncio.ensure_future(store.capture(new_capture(b'{"n":1}'))) for _ in range(3)]
        await busy
        outcomes = await asyncio.wait_for(asyncio.gather(broken, *stranded, return_exceptions=True), timeout=10)
        for outcome in outcomes:
            assert isinstance(outcome, StoreUnavailable), outcome  # answered, not left waiting forever
        capture_id = await asyncio.wait_for(store.capture(new_capture(b'{"n":2}')), timeout=5)
        assert [capture.id for capture in await store.pending_captures()] == [capture_id]


@pytest.mark.anyio
@pytest.mark.parametrize(("derived_writes", "synchronous"), [(False, 2), (True, 1)])  # FULL is 2, NORMAL 1
async def test_the_writer_syncs_at_full_and_the_processing_worker_s_at_normal(
    tmp_path: Path, derived_writes: bool, synchronous: int
) -> None:
    async with opened(tmp_path, derived_writes=derived_writes) as store:
        setting = await store._write(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0])
        assert setting == synchronous

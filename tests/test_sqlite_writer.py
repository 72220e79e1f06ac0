"""The SQLite writer thread survives callers that give up while their write waits in its queue."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from receiver.store.sqlite import SqliteStore


@pytest.mark.anyio
async def test_a_write_cancelled_while_queued_is_skipped_and_the_writer_lives_on(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    try:

        def slow(conn: sqlite3.Connection) -> int:
            time.sleep(0.2)  # holds the writer so the next write waits in the queue
            return 1

        def mark(conn: sqlite3.Connection) -> int:
            conn.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")
            conn.execute("INSERT INTO marks VALUES (2)")
            return 2

        first = asyncio.ensure_future(store._write(slow))
        await asyncio.sleep(0.05)
        cancelled = asyncio.ensure_future(store._write(mark))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        assert await first == 1
        assert await store._write(lambda conn: 3) == 3  # the writer still serves
        assert await store.ping()
        rows = await store._read(
            lambda conn: conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'marks'").fetchone()[0]
        )
        assert rows == 0  # the cancelled write never ran
    finally:
        await store.close()

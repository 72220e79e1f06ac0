"""The store contract suite's one fixture: every test runs over SQLite (a tmp file) and PostgreSQL (a schema).

`place` is where a backend keeps its data for one test; `place.make()` builds a store on it (unopened), so
a test can open several stores on the same data (replicas, reopening after a close). `store` is one opened
store on a `ManualClock` (`clock`).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.clock import Clock, ManualClock
from receiver.config import RefusalSettings
from receiver.store.base import Store
from receiver.store.postgres import PostgresStore
from receiver.store.sqlite import SqliteStore
from tests.services import require_service

#: The local PostgreSQL the tests use (trust auth); each test gets a schema of its own in it.
PG_URL = os.environ.get("VODHOOK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_schema_url(schema: str) -> str:
    """The URL of `schema` in the test database (libpq's `options` sets the search_path)."""
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh, empty schema in the test database, dropped afterwards; yields its URL."""
    require_service("postgres")
    schema = f"vh_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_url(schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@dataclass
class Place:
    """Where one backend keeps one test's data."""

    kind: str  # "sqlite" | "postgres"
    path: Path | None = None
    url: str | None = None

    def make(self, clock: Clock | None = None, refusals: RefusalSettings | None = None, **kwargs: Any) -> Store:
        if self.kind == "sqlite":
            assert self.path is not None
            return SqliteStore(self.path, clock=clock, refusals=refusals)
        assert self.url is not None
        return PostgresStore(self.url, clock=clock, refusals=refusals, **kwargs)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement directly on the backend's data (qmark placeholders), for what no API shows."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(str(self.path), isolation_level=None)) as conn:
                return list(conn.execute(statement, params).fetchall())
        assert self.url is not None
        with psycopg.connect(self.url, autocommit=True) as pg:
            cursor = pg.execute(statement.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description else []


@pytest.fixture(params=["sqlite", "postgres"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    if request.param == "sqlite":
        yield Place("sqlite", path=tmp_path / "data" / "vodhook.sqlite3")
        return
    with pg_schema() as url:
        yield Place("postgres", url=url)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(place: Place, clock: ManualClock) -> AsyncIterator[Store]:
    opened = place.make(clock)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()

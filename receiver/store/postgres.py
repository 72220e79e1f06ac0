"""The PostgreSQL store: several receivers (replicas behind a load balancer) share one database.

Selected by a URL: `store = "postgresql://user@host/db"` (libpq options apply, e.g.
`?options=-csearch_path%3Dvodhook` for a schema). What sharing needs, and how each part gets it:

- **Migrations at startup**, safe when several replicas start at once: each takes a session advisory lock
  (per schema) around reading the schema version and applying what is missing; a newer schema than this
  vodhook knows raises `NewerSchema`, as SQLite does.
- **Captures** are durable before the answer, and *group-committed*: concurrent callbacks queue their rows
  to a few flusher tasks, each of which inserts everything waiting in one transaction, so one WAL flush
  acknowledges many callbacks. A capture this receiver accepted is *claimed* by it (a lease), so other
  replicas leave it alone unless this one dies; `claim_captures` hands pending captures out with
  `FOR UPDATE SKIP LOCKED`.
- **Dedup and task state** hold under concurrency: `apply` takes transaction advisory locks on the batch's
  task keys in sorted order (no deadlocks; they also cover a task row that does not exist yet), reads the
  task rows `FOR UPDATE`, checks `event_id`s under those locks, and inserts with `ON CONFLICT DO NOTHING`
  behind the unique constraint.
- **The outbox** is a shared queue: a claim serializes per sink (an advisory lock, so the per-task order
  holds across replicas) and skips rows another transaction holds (`FOR UPDATE SKIP LOCKED`).
- **Leases and rate buckets** are single-statement upserts (no read-then-write).
- **A lost database** makes writes raise `StoreUnavailable` (callbacks answer 503, the provider retries)
  and `ping` answer False (readiness); the pool reconnects by itself when the database is back.

Times stored (claims, leases, buckets) come from the store's clock, so replicas need synchronized clocks,
as any lease does.

Driver: psycopg 3 (with its C extension and pool). It ships type information (mypy --strict needs no stubs),
it is libpq, so every connection option operators know works in the URL (sslmode, service, options), it
sends array parameters in binary (a batch goes in as one statement per table), and its pool checks and
replaces connections after an outage by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from receiver.clock import Clock, SystemClock
from receiver.config import RefusalSettings
from receiver.messages import build_message
from receiver.model import Event, Origin, Task, event_json, task_json
from receiver.state import TRUSTED_REPORTS, holds, judge_all, judge_unanswered, merge
from receiver.store._where import capture_conditions, event_conditions, render_where
from receiver.store.base import (
    BACKLOG_CAPTURE_STATES,
    BACKLOG_OUTBOX_STATES,
    CAPTURE_LEASE_S,
    UNSETTLED,
    Applied,
    Backlog,
    Capture,
    CaptureFilter,
    CaptureState,
    Confirmation,
    Effect,
    EventFilter,
    NewCapture,
    NewerSchema,
    OutboxFilter,
    OutboxMessage,
    OutboxRouter,
    OutboxState,
    Processed,
    Refusal,
    Settlement,
    Store,
    StoredEvent,
    StoreUnavailable,
    TrackedFilter,
    TrackedTask,
    TrackState,
    check_bucket,
    confirm_tracked,
)
from receiver.store.sqlite import migrations

log = logging.getLogger("vodhook.store.postgres")

T = TypeVar("T")
Conn = AsyncConnection[DictRow]

_BATCH_MAX = 512
_FLUSHERS = 2
_RETRIES = 5  # deadlocks and serialization failures are retried this many times


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def default_holder() -> str:
    """Who this process is in claims and leases: host, pid and a random part (a restarted pid is new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def lock_key(text: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def _clean(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: keep the rest of a provider's string rather than refuse the row."""
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text


def _pg_value(value: Any) -> Any:
    """Text loses NUL bytes (PostgreSQL refuses them); everything else binds as it is."""
    return _clean(value) if isinstance(value, str) else value


def _utc(when: datetime | None) -> datetime | None:
    return when.astimezone(UTC) if when is not None else None


class PostgresStore(Store):
    """Captures, events, tasks, the outbox, leases and rate buckets in one PostgreSQL schema."""

    shared = True

    def __init__(
        self,
        url: str,
        clock: Clock | None = None,
        refusals: RefusalSettings | None = None,
        *,
        capture_lease_s: float | None = None,
        pool_size: int = 10,
        wait_s: float = 3.0,
        holder: str | None = None,
    ) -> None:
        self.url = url
        self.clock = clock or SystemClock()
        self.refusals = refusals or RefusalSettings()
        #: How long the captures this receiver takes stay its own (`claim_captures`; default CAPTURE_LEASE_S).
        self.capture_lease_s = CAPTURE_LEASE_S if capture_lease_s is None else capture_lease_s
        self.pool_size = pool_size
        #: How long a write waits for a connection before answering `StoreUnavailable` (callbacks: 503).
        self.wait_s = wait_s
        #: Who this receiver is in capture claims: host, process and a random part (a restarted process
        #: with the same pid is someone else).
        self.holder = holder or default_holder()
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._captures: asyncio.Queue[tuple[NewCapture, asyncio.Future[int]] | None] = asyncio.Queue()
        self._flushers: list[asyncio.Task[None]] = []
        self.commits = 0  # capture transactions committed (group commit makes this far lower than captures)

    # lifecycle -----------------------------------------------------------------------------------------

    def _conninfo_kwargs(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"autocommit": True, "row_factory": dict_row}
        if "connect_timeout" not in self.url:
            extra["connect_timeout"] = 5
        return extra

    async def open(self) -> None:
        try:
            await self._migrate()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {_safe_url(self.url)}: {exc}") from exc
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url,
            connection_class=AsyncConnection[DictRow],
            kwargs=self._conninfo_kwargs(),
            min_size=1,
            max_size=self.pool_size,
            open=False,
            check=AsyncConnectionPool.check_connection,
            timeout=self.wait_s,
            reconnect_timeout=24 * 3600.0,  # keep trying through an outage; callers get 503 meanwhile
            name="vodhook",
        )
        await pool.open()
        self._pool = pool
        self._captures = asyncio.Queue()
        self._flushers = [
            asyncio.create_task(self._flush_captures(), name=f"vodhook-pg-capture-{i}") for i in range(_FLUSHERS)
        ]

    async def _migrate(self) -> None:
        known = migrations("postgres")
        newest = known[-1][0] if known else 0
        conn = await psycopg.AsyncConnection.connect(self.url, **self._conninfo_kwargs())
        async with conn:
            row = await (await conn.execute("SELECT current_schema() AS schema")).fetchone()
            schema = row["schema"] if row else None
            if schema is None:
                raise StoreUnavailable(
                    f"store {_safe_url(self.url)!r}: no schema of the search_path exists (create it first)"
                )
            key = lock_key(f"vodhook:migrate:{schema}")
            await conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                await conn.execute("CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)")
                found = await (await conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")).fetchone()
                current = int(found["value"]) if found else 0
                if current > newest:
                    raise NewerSchema(
                        f"database schema {schema!r} has vodhook schema {current}, this vodhook knows up to"
                        f" {newest}: upgrade vodhook instead of opening it with an older one"
                    )
                for number, sql in known:
                    if number <= current:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql.encode())  # no parameters: the simple protocol runs the script
                        await conn.execute(
                            "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (str(number),),
                        )
                    log.info("migrated schema %r to version %d", schema, number)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    async def close(self) -> None:
        flushers, self._flushers = self._flushers, []
        for _ in flushers:
            self._captures.put_nowait(None)
        for flusher in flushers:
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:  # leave this receiver's unprocessed captures to the others at once, not after the lease
            async with pool.connection(timeout=self.wait_s) as conn:
                await conn.execute(
                    "UPDATE captures SET claimed_by = NULL, claimed_until = NULL"
                    " WHERE claimed_by = %s AND state = 'pending'",
                    (self.holder,),
                )
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("could not release this receiver's captures (they free up after the lease): %s", exc)
        await pool.close()

    async def ping(self) -> bool:
        if self._pool is None:
            return False
        try:
            async with asyncio.timeout(self.wait_s + 1.0), self._pool.connection(timeout=self.wait_s) as conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout, TimeoutError):
            return False
        return True

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A pooled connection; a lost database becomes `StoreUnavailable`."""
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        try:
            async with self._pool.connection(timeout=self.wait_s) as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no PostgreSQL connection within {self.wait_s} s: {exc}") from exc
        except errors.TransactionRollback:
            raise  # a deadlock or serialization failure: `_transact` retries it
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"PostgreSQL: {exc}") from exc

    async def _transact(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run `work` in one transaction, again when PostgreSQL aborts it for a deadlock or serialization."""
        for attempt in range(_RETRIES):
            try:
                async with self._connection() as conn, conn.transaction():
                    return await work(conn)
            except errors.TransactionRollback:
                if attempt == _RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    async def _read(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        async with self._connection() as conn:
            return await work(conn)

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[DictRow]:
        async def work(conn: Conn) -> list[DictRow]:
            return await (await conn.execute(sql, params)).fetchall()

        return await self._read(work)

    # captures: group commit ----------------------------------------------------------------------------

    async def capture(self, capture: NewCapture) -> int:
        if not self._flushers:
            raise StoreUnavailable("the store is not open")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._captures.put_nowait((capture, future))
        return await asyncio.shield(future)  # a caller that goes away must not cancel the others' commit

    async def _flush_captures(self) -> None:
        """Take every capture waiting and commit them in one transaction; wake their callers after it."""
        while True:
            first = await self._captures.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < _BATCH_MAX and not self._captures.empty():
                item = self._captures.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                outcomes = await self._insert_captures([capture for capture, _ in batch])
            except Exception as exc:  # a bug here must not leave callers waiting forever: they answer 503
                log.exception("committing %d captures failed", len(batch))
                outcomes = [StoreUnavailable(f"capture failed: {exc}")] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            if stop:
                return

    async def _insert_captures(self, captures: Sequence[NewCapture]) -> list[int | Exception]:
        """Ids in order, or each capture's error: one bad row fails alone, a lost database fails them all."""
        try:
            async with self._connection() as conn:  # autocommit: the one INSERT is the transaction
                ids: list[int | Exception] = list(await self._insert_rows(conn, captures))
        except StoreUnavailable as exc:
            return [exc] * len(captures)
        except psycopg.Error as exc:
            if len(captures) == 1:
                return [StoreUnavailable(f"PostgreSQL refused the capture: {exc}")]
            log.warning("a batch of %d captures failed (%s); inserting them one by one", len(captures), exc)
            ids = []
            for capture in captures:
                ids.extend(await self._insert_captures([capture]))
            return ids
        self.commits += 1
        return ids

    async def _insert_rows(self, conn: Conn, captures: Sequence[NewCapture], *, claim: bool = True) -> list[int]:
        """Insert captures; accepted ones are claimed by this receiver, which processes them right away."""
        now = self.clock.now()
        until = now + timedelta(seconds=self.capture_lease_s)
        rows = [
            (
                capture.received_at,
                _clean(capture.source),
                _clean(capture.dialect),
                capture.origin.value,
                _clean(capture.remote),
                _clean(capture.method),
                _clean(capture.path),
                _clean(capture.query),
                json.dumps(capture.headers, ensure_ascii=False),
                capture.body,
                len(capture.body),
                _clean(capture.verification),
                _clean(capture.verification_reason),
                (CaptureState.REFUSED if capture.refused else CaptureState.PENDING).value,
                self.holder if claim and not capture.refused else None,
                until if claim and not capture.refused else None,
            )
            for capture in captures
        ]
        # Ids first (the sequence hands them out in order), so each caller learns its own without relying
        # on the order of RETURNING rows; then all rows in one statement, which commits them at once when
        # the connection is in autocommit (the group commit: one WAL flush for the batch).
        cursor = await conn.execute(
            "SELECT nextval(pg_get_serial_sequence('captures', 'id')) AS id FROM generate_series(1, %s)",
            (len(rows),),
        )
        ids = sorted(int(row["id"]) for row in await cursor.fetchall())
        await _insert_arrays(conn, "captures", _CAPTURE_COLUMNS, [(i, *row) for i, row in zip(ids, rows, strict=True)])
        if any(capture.refused for capture in captures):
            async with conn.transaction():
                await self._cap_refused(conn)
        return ids

    async def _cap_refused(self, conn: Conn) -> None:
        """Delete the oldest refused captures and refusals beyond the configured count and size.

        Keeps the newest rows whose running count and size (newest first) fit: the same rows the SQLite
        store keeps. One transaction at a time does it (an advisory lock), so two replicas never fight.
        """
        limits = self.refusals
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("vodhook:refusal-cap"),))
        for table, size, where in (
            ("captures", "body_size", "WHERE state = 'refused'"),
            ("refusals", "octet_length(body_head)", ""),
        ):
            await conn.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER w AS n,"
                f" sum({size}) OVER w AS total FROM {table} {where} WINDOW w AS (ORDER BY id DESC)) AS ranked"
                " WHERE n > %s OR total > %s)",
                (limits.max_count, limits.max_bytes),
            )

    async def refuse(self, refusal: Refusal) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO refusals (received_at, source, remote, reason, headers, body_size, body_head)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (
                    refusal.received_at,
                    _clean(refusal.source),
                    _clean(refusal.remote),
                    _clean(refusal.reason),
                    json.dumps(refusal.headers, ensure_ascii=False),
                    refusal.body_size,
                    refusal.body_head[: self.refusals.head_bytes],
                ),
            )
            await self._cap_refused(conn)

        await self._transact(work)

    # normalization results -----------------------------------------------------------------------------

    async def apply(self, results: Sequence[Processed], route: OutboxRouter | None = None) -> list[list[Applied]]:
        if not results:
            return []
        return await self._transact(lambda conn: self._apply(conn, results, route))

    async def _apply(self, conn: Conn, results: Sequence[Processed], route: OutboxRouter | None) -> list[list[Applied]]:
        now = self.clock.now()
        events = [event for result in results if result.error is None for event in result.events]
        # Lock every task (or, for task-less events, event id) the batch touches, in one global order.
        keys = sorted({lock_key(_lock_name(event)) for event in events})
        if keys:
            await conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", (keys,))
        known: dict[str, Effect] = {}
        known_capture: dict[str, int | None] = {}
        if events:
            cursor = await conn.execute(
                "SELECT event_id, effect, capture_id FROM events WHERE event_id = ANY(%s)",
                ([event.event_id for event in events],),
            )
            for row in await cursor.fetchall():
                known[row["event_id"]] = Effect(row["effect"])
                known_capture[row["event_id"]] = row["capture_id"]
        task_ids = sorted({(event.provider.value, _clean(event.task_key)) for event in events if event.task_key})
        tasks: dict[tuple[str, str | None], Task | None] = {}
        if task_ids:
            cursor = await conn.execute(
                "SELECT provider, task_key, body FROM tasks WHERE (provider, task_key) IN"
                " (SELECT * FROM unnest(%s::text[], %s::text[])) ORDER BY provider, task_key FOR UPDATE",
                ([p for p, _ in task_ids], [k for _, k in task_ids]),
            )
            for row in await cursor.fetchall():
                tasks[(row["provider"], row["task_key"])] = Task.model_validate_json(row["body"])
        held = await _held(
            conn, sorted({key for key, event in _keyed(events) if event.origin in TRUSTED_REPORTS and event.status})
        )

        event_rows: list[tuple[Any, ...]] = []
        changed: dict[tuple[str, str | None], Task] = {}
        outbox_rows: list[tuple[Any, ...]] = []
        capture_rows: list[tuple[Any, ...]] = []
        rewritten: dict[str, Effect] = {}  # effects of rows that exist (or are inserted here) changed afterwards
        verdicts: list[Confirmation] = []
        due: list[TrackedTask] = []
        applied_all: list[list[Applied]] = []
        for result in results:
            if result.error is not None:
                capture_rows.append((result.capture_id, "quarantined", _clean(result.error), "[]", now))
                applied_all.append([])
                continue
            applied_here: list[Applied] = []
            reapplied: list[tuple[Event, int | None]] = []
            for event in result.events:
                key = (event.provider.value, _clean(event.task_key))
                current = tasks.get(key) if event.task_key else None
                seen = known.get(event.event_id)
                if seen is not None and (seen not in UNSETTLED or (seen is Effect.HELD and result.hold)):
                    applied = Applied(event=event, duplicate=True, effect=seen, task=current)
                else:
                    task, effect = merge(current, event, now)
                    if result.hold and holds(event, effect):
                        task, effect = current, Effect.HELD
                    if seen is None:
                        event_rows.append(_event_row(event, effect))
                    else:  # held or unconfirmed until now: merged again (see `Store.apply`)
                        rewritten[event.event_id] = effect
                        if seen is Effect.HELD:
                            reapplied.append((event, known_capture.get(event.event_id)))
                            held[key] = [(e, c) for e, c in held.get(key, []) if e.event_id != event.event_id]
                    known[event.event_id] = effect
                    if effect is Effect.HELD:  # nothing is forwarded until the provider confirms it
                        held.setdefault(key, []).append((event, event.capture_id))
                        due.append(confirm_tracked(event, now))
                    if effect is Effect.APPLIED and task is not None:
                        tasks[key] = changed[key] = task
                    applied = Applied(event=event, duplicate=False, effect=effect, task=task)
                if route is not None and applied.effect is not Effect.HELD:  # duplicates: every-event sinks only
                    outbox_rows.extend(_outbox_rows(applied, route(applied), now))
                applied_here.append(applied)
            event_ids = json.dumps([event.event_id for event in result.events])
            capture_rows.append((result.capture_id, "processed", None, event_ids, now))
            if any(event.origin in TRUSTED_REPORTS for event in result.events):
                self._judge(applied_here, reapplied, tasks, held, rewritten, verdicts, result.confirm_grace_s)
            applied_all.append(applied_here)

        # One statement per table, its rows as arrays: psycopg dumps arrays in C, and the server unnests them.
        await _insert_arrays(conn, "events", _EVENT_COLUMNS, event_rows, "ON CONFLICT (event_id) DO NOTHING")
        if rewritten:
            await conn.execute(
                "UPDATE events SET effect = u.effect FROM unnest(%s::text[], %s::text[]) AS u (event_id, effect)"
                " WHERE events.event_id = u.event_id",
                (list(rewritten), [effect.value for effect in rewritten.values()]),
            )
        await _insert_arrays(
            conn,
            "tasks",
            _TASK_COLUMNS,
            [
                (
                    task.provider.value,
                    _clean(task.task_id),
                    task.version,
                    task.status.value,
                    task.outcome.value if task.outcome else None,
                    _clean(task.source),
                    task.changed_at,
                    task_json(task),
                )
                for task in changed.values()
            ],
            "ON CONFLICT (provider, task_key) DO UPDATE SET version = excluded.version,"
            " status = excluded.status, outcome = excluded.outcome, changed_at = excluded.changed_at,"
            " body = excluded.body",
        )
        await _insert_arrays(conn, "outbox", _OUTBOX_COLUMNS, outbox_rows)
        done = list(zip(*sorted(capture_rows), strict=True))
        await conn.execute(
            "UPDATE captures SET state = done.state, error = done.error, event_ids = done.event_ids,"
            " processed_at = done.at, claimed_by = NULL, claimed_until = NULL"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])"
            " AS done (id, state, error, event_ids, at) WHERE captures.id = done.id",
            [list(column) for column in done],
        )
        await self._refuse_unconfirmed(conn, verdicts)  # after the update above: a held capture may be in it
        for tracked in due:
            await conn.execute(
                f"INSERT INTO tracked_tasks ({_TRACKED_COLUMNS}) VALUES ({_TRACKED_MARKS})"
                " ON CONFLICT (provider, task_id) DO UPDATE SET state = 'open',"
                " next_check_at = excluded.next_check_at, resolved_at = NULL",
                _tracked_params(tracked),
            )
        return applied_all

    @staticmethod
    def _judge(
        applied: list[Applied],
        reapplied: list[tuple[Event, int | None]],
        tasks: dict[tuple[str, str | None], Task | None],
        held: dict[tuple[str, str | None], list[tuple[Event, int | None]]],
        rewritten: dict[str, Effect],
        verdicts: list[Confirmation],
        grace_s: float,
    ) -> None:
        """After a trusted report: judge the held callbacks of each task it reported on (`state.judge_held`,
        with the asking source's grace), in memory; `_apply` writes the verdicts."""
        last = {
            (item.event.provider.value, _clean(item.event.task_key)): index
            for index, item in enumerate(applied)
            if item.event.task_key and item.event.status
        }
        reapplied_ids = {event.event_id for event, _ in reapplied}
        for key, index in last.items():
            report = applied[index]
            judged, still_held = judge_all(held.get(key, []), reapplied, tasks.get(key), report.event, grace_s)
            settled = {verdict.event_id for verdict in judged}
            held[key] = [(event, capture) for event, capture in held.get(key, []) if event.event_id not in settled]
            for verdict in judged:
                if verdict.event_id not in reapplied_ids:  # a reapplied row already holds what the merge made of it
                    rewritten[verdict.event_id] = verdict.effect
                    verdicts.append(verdict)
            applied[index] = replace(report, confirmations=tuple(judged), still_held=still_held)

    async def _refuse_unconfirmed(self, conn: Conn, verdicts: Sequence[Confirmation]) -> None:
        refused = [(v.capture_id, _clean(v.reason)) for v in verdicts if v.capture_id and not v.confirmed]
        if not refused:
            return
        await conn.execute(
            "UPDATE captures SET state = 'refused', error = r.reason FROM unnest(%s::bigint[], %s::text[])"
            " AS r (id, reason) WHERE captures.id = r.id",
            ([capture_id for capture_id, _ in refused], [reason for _, reason in refused]),
        )
        await self._cap_refused(conn)

    async def refuse_held(
        self, provider: str, task_id: str, asked_at: datetime, said: str, *, grace_s: float = 0.0
    ) -> list[Confirmation]:
        async def work(conn: Conn) -> list[Confirmation]:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(f"vodhook:task:{provider}/{task_id}"),))
            key = (provider, _clean(task_id))
            verdicts = []
            for event, capture_id in (await _held(conn, [key])).get(key, []):
                effect, reason = judge_unanswered(event, asked_at, said, grace_s)
                if effect is not Effect.HELD:
                    verdicts.append(Confirmation(event.event_id, capture_id, effect, reason))
            if verdicts:
                await conn.execute(
                    "UPDATE events SET effect = %s WHERE event_id = ANY(%s)",
                    (Effect.UNCONFIRMED.value, [verdict.event_id for verdict in verdicts]),
                )
                await self._refuse_unconfirmed(conn, verdicts)
            return verdicts

        return await self._transact(work)

    async def reset_captures(self, capture_ids: Sequence[int]) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute(
                "UPDATE captures SET state = 'pending', error = NULL, claimed_by = NULL, claimed_until = NULL"
                " WHERE id = ANY(%s)",
                (sorted(capture_ids),),
            )

        await self._transact(work)

    async def import_capture(self, capture: NewCapture) -> int | None:
        headers = json.dumps(capture.headers, ensure_ascii=False)
        identity = (
            _clean(capture.source),
            capture.received_at,
            _clean(capture.method),
            _clean(capture.path),
            _clean(capture.query),
        )

        async def work(conn: Conn) -> int | None:
            # Two replicas importing the same file: one at a time per (source, received_at), then look.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                (lock_key(f"vodhook:import:{capture.source}:{capture.received_at.isoformat()}"),),
            )
            cursor = await conn.execute(
                "SELECT 1 FROM captures WHERE source = %s AND received_at = %s AND method = %s AND path = %s"
                " AND query = %s AND headers = %s AND body = %s LIMIT 1",
                (*identity, headers, capture.body),
            )
            if await cursor.fetchone() is not None:
                return None
            # Unclaimed: whichever receiver re-drives pending captures first processes it.
            [capture_id] = await self._insert_rows(conn, [capture], claim=False)
            return capture_id

        return await self._transact(work)

    async def prune_captures(self, older_than: datetime | None = None, max_bytes: int | None = None) -> int:
        async def work(conn: Conn) -> int:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("vodhook:prune-captures"),))
            deleted = 0
            if older_than is not None:
                cursor = await conn.execute(
                    "DELETE FROM captures WHERE received_at < %s AND state != 'pending'", (older_than,)
                )
                deleted += cursor.rowcount
            if max_bytes is not None:
                # The oldest non-pending captures go while the bodies of all captures total over max_bytes.
                cursor = await conn.execute(
                    "WITH total AS (SELECT coalesce(sum(body_size), 0) AS bytes FROM captures),"
                    " ranked AS (SELECT id, coalesce(sum(body_size) OVER (ORDER BY received_at, id"
                    " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before"
                    " FROM captures WHERE state != 'pending')"
                    " DELETE FROM captures WHERE id IN"
                    " (SELECT id FROM ranked, total WHERE total.bytes - ranked.before > %s)",
                    (max_bytes,),
                )
                deleted += cursor.rowcount
            return deleted

        return await self._transact(work)

    # reads ---------------------------------------------------------------------------------------------

    async def pending_captures(self, limit: int = 500, after_id: int = 0) -> list[Capture]:
        rows = await self._fetch(
            "SELECT * FROM captures WHERE state = 'pending' AND id > %s ORDER BY id LIMIT %s",
            (after_id, limit),
        )
        return [_capture(row) for row in rows]

    async def get_capture(self, capture_id: int) -> Capture | None:
        rows = await self._fetch("SELECT * FROM captures WHERE id = %s", (capture_id,))
        return _capture(rows[0]) if rows else None

    async def list_captures(self, filt: CaptureFilter) -> list[Capture]:
        where, params = render_where(capture_conditions(filt), "%s", _pg_value)
        order = "ASC" if filt.after_id is not None else "DESC"
        rows = await self._fetch(f"SELECT * FROM captures {where} ORDER BY id {order} LIMIT %s", (*params, filt.limit))
        return [_capture(row) for row in rows]

    async def list_refusals(self, limit: int = 100) -> list[Refusal]:
        rows = await self._fetch("SELECT * FROM refusals ORDER BY id DESC LIMIT %s", (limit,))
        return [
            Refusal(
                id=row["id"],
                source=row["source"],
                received_at=row["received_at"].astimezone(UTC),
                remote=row["remote"],
                reason=row["reason"],
                headers=json.loads(row["headers"]),
                body_size=row["body_size"],
                body_head=bytes(row["body_head"]),
            )
            for row in rows
        ]

    @staticmethod
    def _event_where(filt: EventFilter) -> tuple[str, list[Any]]:
        return render_where(event_conditions(filt), "%s", _pg_value)

    async def list_events(self, filt: EventFilter) -> list[StoredEvent]:
        where, params = self._event_where(filt)
        rows = await self._fetch(
            f"SELECT seq, effect, body FROM events {where} ORDER BY seq DESC LIMIT %s", (*params, filt.limit)
        )
        return [_stored(row) for row in rows]

    async def get_event(self, event_id: str) -> StoredEvent | None:
        rows = await self._fetch("SELECT seq, effect, body FROM events WHERE event_id = %s", (_clean(event_id),))
        return _stored(rows[0]) if rows else None

    async def get_task(self, provider: str, task_id: str) -> Task | None:
        rows = await self._fetch(
            "SELECT body FROM tasks WHERE provider = %s AND task_key = %s",
            (_clean(provider), _clean(task_id)),
        )
        return Task.model_validate_json(rows[0]["body"]) if rows else None

    async def task_events(self, provider: str, task_id: str) -> list[StoredEvent]:
        rows = await self._fetch(
            "SELECT seq, effect, body FROM events WHERE provider = %s AND task_key = %s ORDER BY seq",
            (_clean(provider), _clean(task_id)),
        )
        return [_stored(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        async def work(conn: Conn) -> dict[str, int]:
            found = {f"captures_{state.value}": 0 for state in CaptureState}
            by_state = await conn.execute("SELECT state, count(*) AS n FROM captures GROUP BY state")
            for row in await by_state.fetchall():
                found[f"captures_{row['state']}"] = int(row["n"])
            totals = await (
                await conn.execute(
                    "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM tasks) AS tasks,"
                    " (SELECT count(*) FROM refusals) AS refusals"
                )
            ).fetchone()
            assert totals is not None
            found.update({name: int(totals[name]) for name in ("events", "tasks", "refusals")})
            return found

        return await self._read(work)

    async def backlog(self) -> Backlog:
        async def work(conn: Conn) -> Backlog:
            captures: dict[str, int] = {}
            for state in BACKLOG_CAPTURE_STATES:
                cursor = await conn.execute("SELECT count(*) AS n FROM captures WHERE state = %s", (state,))
                row = await cursor.fetchone()
                captures[state] = int(row["n"]) if row else 0
            rows = await (
                await conn.execute(
                    "SELECT sink, state, count(*) AS n FROM outbox WHERE state = ANY(%s) GROUP BY sink, state",
                    (list(BACKLOG_OUTBOX_STATES),),
                )
            ).fetchall()
            return Backlog(captures=captures, outbox={(row["sink"], row["state"]): int(row["n"]) for row in rows})

        return await self._read(work)

    # several receivers on one store --------------------------------------------------------------------

    async def claim_captures(self, limit: int = 500, after_id: int = 0, lease_s: float | None = None) -> list[Capture]:
        now = self.clock.now()
        until = now + timedelta(seconds=self.capture_lease_s if lease_s is None else lease_s)

        async def work(conn: Conn) -> list[Capture]:
            cursor = await conn.execute(
                "WITH free AS (SELECT id FROM captures WHERE state = 'pending' AND id > %s"
                " AND (claimed_by IS NULL OR claimed_by = %s OR claimed_until <= %s)"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " UPDATE captures SET claimed_by = %s, claimed_until = %s FROM free"
                " WHERE captures.id = free.id"
                " RETURNING captures.*",
                (after_id, self.holder, now, limit, self.holder, until),
            )
            return sorted((_capture(row) for row in await cursor.fetchall()), key=lambda c: c.id)

        return await self._transact(work)

    async def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        now = self.clock.now()

        async def work(conn: Conn) -> bool:
            cursor = await conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE leases.holder = excluded.holder OR leases.expires_at <= %s RETURNING holder",
                (name, holder, now + timedelta(seconds=ttl_s), now),
            )
            return await cursor.fetchone() is not None

        return await self._transact(work)

    async def renew_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        until = self.clock.now() + timedelta(seconds=ttl_s)

        async def work(conn: Conn) -> bool:
            cursor = await conn.execute(
                "UPDATE leases SET expires_at = %s WHERE name = %s AND holder = %s", (until, name, holder)
            )
            return cursor.rowcount == 1

        return await self._transact(work)

    async def release_lease(self, name: str, holder: str) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute("DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder))

        await self._transact(work)

    async def lease_holder(self, name: str) -> str | None:
        rows = await self._fetch(
            "SELECT holder FROM leases WHERE name = %s AND expires_at > %s", (name, self.clock.now())
        )
        return str(rows[0]["holder"]) if rows else None

    async def take_tokens(self, bucket: str, rate: float, burst: float, n: float = 1.0) -> float:
        check_bucket(rate, burst, n)
        cost = n / rate

        async def work(conn: Conn) -> float:
            # The clock is read once a connection is ours (not before waiting for the pool), so a reservation
            # is never made in the past, where the bucket may still have room.
            now = self.clock.now().timestamp()
            cursor = await conn.execute(
                "INSERT INTO rate_buckets (name, tat) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET"
                " tat = greatest(rate_buckets.tat, %s) + %s RETURNING tat",
                (bucket, now + cost, now, cost),
            )
            row = await cursor.fetchone()
            assert row is not None
            return max(0.0, float(row["tat"]) - burst / rate - now)

        return await self._transact(work)

    # the outbox ----------------------------------------------------------------------------------------

    async def claim_outbox(self, sink: str, now: datetime, lease_until: datetime, limit: int) -> list[OutboxMessage]:
        async def work(conn: Conn) -> list[OutboxMessage]:
            # One claim per sink at a time, across replicas: a task's next message is handed out only once
            # the claim before has committed its lease on the earlier one (the per-task order).
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(f"vodhook:outbox:{sink}"),))
            cursor = await conn.execute(
                "WITH due AS (SELECT o.id FROM outbox o WHERE o.sink = %s AND o.state = 'pending'"
                " AND o.next_attempt_at <= %s AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.sink = o.sink"
                " AND p.provider = o.provider AND p.task_key = o.task_key AND p.state = 'pending'"
                " AND p.id < o.id"
                " AND p.next_attempt_at > %s) ORDER BY o.id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " UPDATE outbox SET next_attempt_at = %s FROM due WHERE outbox.id = due.id"
                " RETURNING outbox.*",
                (sink, now, now, limit, lease_until),
            )
            return sorted((_outbox_row(row) for row in await cursor.fetchall()), key=lambda m: m.id)

        return await self._transact(work)

    async def settle_outbox(self, settlements: Sequence[Settlement]) -> None:
        if not settlements:
            return

        async def work(conn: Conn) -> None:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "UPDATE outbox SET state = %(state)s, attempts = attempts + %(attempted)s,"
                    " last_error = coalesce(%(error)s, last_error),"
                    " next_attempt_at = coalesce(%(next)s, next_attempt_at),"
                    " delivered_at = CASE WHEN %(state)s = 'delivered' THEN %(at)s ELSE delivered_at END,"
                    " dead_at = CASE WHEN %(state)s = 'dead' THEN %(at)s ELSE dead_at END WHERE id = %(id)s",
                    [
                        {
                            "state": item.state.value,
                            "attempted": 1 if item.attempted else 0,
                            "error": _clean(item.error),
                            "next": item.next_attempt_at,
                            "at": item.at,
                            "id": item.id,
                        }
                        for item in sorted(settlements, key=lambda s: s.id)
                    ],
                )

        await self._transact(work)

    @staticmethod
    def _outbox_where(filt: OutboxFilter, state: OutboxState | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("sink", filt.sink),
            ("state", state.value if state else None),
            ("task_key", filt.task_key),
            ("event_id", filt.event_id),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(_clean(value))
        if filt.ids is not None:
            clauses.append("id = ANY(%s)")
            params.append(list(filt.ids))
        if filt.before is not None:
            clauses.append("created_at < %s")
            params.append(filt.before)
        if filt.before_id is not None:
            clauses.append("id < %s")
            params.append(filt.before_id)
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params

    async def list_outbox(self, filt: OutboxFilter) -> list[OutboxMessage]:
        where, params = self._outbox_where(filt, filt.state)
        rows = await self._fetch(f"SELECT * FROM outbox {where} ORDER BY id DESC LIMIT %s", (*params, filt.limit))
        return [_outbox_row(row) for row in rows]

    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for row in await self._fetch("SELECT sink, state, count(*) AS n FROM outbox GROUP BY sink, state"):
            found.setdefault(row["sink"], {})[row["state"]] = int(row["n"])
        return found

    async def retry_outbox(self, filt: OutboxFilter, now: datetime) -> int:
        where, params = self._outbox_where(filt, OutboxState.DEAD)

        async def work(conn: Conn) -> int:
            cursor = await conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, age_from = %s, next_attempt_at = %s,"
                f" dead_at = NULL {where}",
                (now, now, *params),
            )
            return cursor.rowcount

        return await self._transact(work)

    async def purge_outbox(self, filt: OutboxFilter) -> int:
        if filt.state not in (OutboxState.DEAD, OutboxState.DELIVERED):
            raise ValueError(f"purge_outbox: state must be dead or delivered (got {filt.state!r})")
        where, params = self._outbox_where(filt, filt.state)

        async def work(conn: Conn) -> int:
            return (await conn.execute(f"DELETE FROM outbox {where}", params)).rowcount

        return await self._transact(work)

    async def redeliver(self, sink: str, filt: EventFilter, now: datetime) -> int:
        where, params = self._event_where(filt)

        async def work(conn: Conn) -> int:
            cursor = await conn.execute(
                f"SELECT seq, effect, body FROM events {where} ORDER BY seq LIMIT %s", (*params, filt.limit)
            )
            queued = 0
            for row in await cursor.fetchall():
                stored = _stored(row)
                event = stored.event
                first = await (
                    await conn.execute(
                        "SELECT message FROM outbox WHERE event_id = %s ORDER BY id LIMIT 1",
                        (event.event_id,),
                    )
                ).fetchone()
                if first is not None:
                    text = str(first["message"])
                else:
                    task = None
                    if event.task_key:
                        found = await (
                            await conn.execute(
                                "SELECT body FROM tasks WHERE provider = %s AND task_key = %s",
                                (event.provider.value, _clean(event.task_key)),
                            )
                        ).fetchone()
                        task = Task.model_validate_json(found["body"]) if found else None
                    applied = Applied(event=event, duplicate=False, effect=stored.effect, task=task)
                    text = json.dumps(build_message(applied), ensure_ascii=False)
                await conn.execute(
                    "INSERT INTO outbox (sink, event_id, provider, task_key, version, message, state,"
                    " next_attempt_at, created_at, redelivery)"
                    " VALUES (%s,%s,%s,%s,%s,%s,'pending',%s,%s,true)",
                    (
                        sink,
                        event.event_id,
                        event.provider.value,
                        _clean(event.task_key),
                        json.loads(text).get("version"),
                        text,
                        now,
                        now,
                    ),
                )
                queued += 1
            return queued

        return await self._transact(work)

    # the fallback's tracking ---------------------------------------------------------------------------

    async def track_tasks(self, tasks: Sequence[TrackedTask]) -> int:
        if not tasks:
            return 0

        async def work(conn: Conn) -> int:
            added = 0
            for task in tasks:
                cursor = await conn.execute(
                    f"INSERT INTO tracked_tasks ({_TRACKED_COLUMNS}) VALUES ({_TRACKED_MARKS})"
                    " ON CONFLICT (provider, task_id) DO NOTHING",
                    _tracked_params(task),
                )
                added += cursor.rowcount
            return added

        return await self._transact(work)

    async def save_tracked(self, task: TrackedTask) -> None:
        names = _TRACKED_COLUMNS.replace(" ", "").split(",")[2:]
        updates = ", ".join(f"{name} = excluded.{name}" for name in names)

        async def work(conn: Conn) -> None:
            await conn.execute(
                f"INSERT INTO tracked_tasks ({_TRACKED_COLUMNS}) VALUES ({_TRACKED_MARKS})"
                f" ON CONFLICT (provider, task_id) DO UPDATE SET {updates}",
                _tracked_params(task),
            )

        await self._transact(work)

    async def get_tracked(self, provider: str, task_id: str) -> TrackedTask | None:
        rows = await self._fetch(
            "SELECT * FROM tracked_tasks WHERE provider = %s AND task_id = %s",
            (_clean(provider), _clean(task_id)),
        )
        return _tracked(rows[0]) if rows else None

    async def list_tracked(self, filt: TrackedFilter) -> list[TrackedTask]:
        clauses: list[str] = []
        params: list[Any] = []
        if filt.state is not None:
            clauses.append("state = %s")
            params.append(filt.state.value)
        if filt.due_at is not None:
            clauses.append("next_check_at <= %s")
            params.append(filt.due_at)
        if filt.overdue_at is not None:
            clauses.append("deadline <= %s")
            params.append(filt.overdue_at)
        if filt.source is not None:
            clauses.append("source = %s")
            params.append(_clean(filt.source))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetch(
            f"SELECT * FROM tracked_tasks {where} ORDER BY deadline, task_id LIMIT %s", (*params, filt.limit)
        )
        return [_tracked(row) for row in rows]

    async def close_tracked(self, keys: Sequence[tuple[str, str]], state: TrackState, at: datetime) -> int:
        if not keys:
            return 0

        async def work(conn: Conn) -> int:
            moved = 0
            for provider, task_id in keys:
                cursor = await conn.execute(
                    "UPDATE tracked_tasks SET state = %s, resolved_at = %s"
                    " WHERE provider = %s AND task_id = %s AND state = 'open'",
                    (state.value, at, _clean(provider), _clean(task_id)),
                )
                moved += cursor.rowcount
            return moved

        return await self._transact(work)

    async def tracked_counts(self, now: datetime) -> dict[str, int]:
        found = {state.value: 0 for state in TrackState}
        for row in await self._fetch("SELECT state, count(*) AS n FROM tracked_tasks GROUP BY state"):
            found[row["state"]] = int(row["n"])
        rows = await self._fetch(
            "SELECT count(*) AS n FROM tracked_tasks WHERE state = 'open' AND deadline <= %s", (now,)
        )
        found["overdue"] = int(rows[0]["n"])
        return found

    async def get_cursor(self, name: str) -> str | None:
        rows = await self._fetch("SELECT value FROM cursors WHERE name = %s", (_clean(name),))
        return str(rows[0]["value"]) if rows else None

    async def set_cursor(self, name: str, value: str | None) -> None:
        now = self.clock.now()

        async def work(conn: Conn) -> None:
            if value is None:
                await conn.execute("DELETE FROM cursors WHERE name = %s", (_clean(name),))
            else:
                await conn.execute(
                    "INSERT INTO cursors (name, value, updated_at) VALUES (%s, %s, %s) ON CONFLICT (name)"
                    " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (_clean(name), _clean(value), now),
                )

        await self._transact(work)


# rows ----------------------------------------------------------------------------------------------------


_TRACKED_COLUMNS = (
    "provider, task_id, source, via, task_kind, state, tracked_at, created_at, deadline, next_check_at,"
    " attempts, last_error, resolved_at"
)
_TRACKED_MARKS = ", ".join(["%s"] * 13)


def _tracked_params(task: TrackedTask) -> tuple[Any, ...]:
    return (
        _clean(task.provider),
        _clean(task.task_id),
        _clean(task.source),
        task.via,
        task.task_kind,
        task.state.value,
        task.tracked_at,
        task.created_at,
        task.deadline,
        task.next_check_at,
        task.attempts,
        _clean(task.last_error),
        task.resolved_at,
    )


def _tracked(row: DictRow) -> TrackedTask:
    return TrackedTask(
        provider=row["provider"],
        task_id=row["task_id"],
        source=row["source"],
        via=row["via"],
        task_kind=row["task_kind"],
        state=TrackState(row["state"]),
        tracked_at=row["tracked_at"].astimezone(UTC),
        created_at=_utc(row["created_at"]),
        deadline=row["deadline"].astimezone(UTC),
        next_check_at=row["next_check_at"].astimezone(UTC),
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        resolved_at=_utc(row["resolved_at"]),
    )


_CAPTURE_COLUMNS = (
    ("id", "bigint"),
    ("received_at", "timestamptz"),
    ("source", "text"),
    ("dialect", "text"),
    ("origin", "text"),
    ("remote", "text"),
    ("method", "text"),
    ("path", "text"),
    ("query", "text"),
    ("headers", "text"),
    ("body", "bytea"),
    ("body_size", "integer"),
    ("verification", "text"),
    ("verification_reason", "text"),
    ("state", "text"),
    ("claimed_by", "text"),
    ("claimed_until", "timestamptz"),
)
_EVENT_COLUMNS = (
    ("event_id", "text"),
    ("capture_id", "bigint"),
    ("source", "text"),
    ("provider", "text"),
    ("dialect", "text"),
    ("origin", "text"),
    ("event_type", "text"),
    ("task_id", "text"),
    ("task_key", "text"),
    ("media_id", "text"),
    ("status", "text"),
    ("outcome", "text"),
    ("transition_key", "text"),
    ("effect", "text"),
    ("received_at", "timestamptz"),
    ("body", "text"),
)
_TASK_COLUMNS = (
    ("provider", "text"),
    ("task_key", "text"),
    ("version", "integer"),
    ("status", "text"),
    ("outcome", "text"),
    ("source", "text"),
    ("changed_at", "timestamptz"),
    ("body", "text"),
)
_OUTBOX_COLUMNS = (
    ("sink", "text"),
    ("event_id", "text"),
    ("provider", "text"),
    ("task_key", "text"),
    ("version", "integer"),
    ("message", "text"),
    ("state", "text"),
    ("next_attempt_at", "timestamptz"),
    ("created_at", "timestamptz"),
)


async def _insert_arrays(
    conn: Conn, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], tail: str = ""
) -> None:
    """Insert many rows in one statement: one array parameter per column, unnested by the server."""
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"%b::{kind}[]" for _, kind in columns)
    await conn.execute(
        f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}",
        [list(column) for column in zip(*rows, strict=True)],
    )


def _keyed(events: Iterable[Event]) -> list[tuple[tuple[str, str | None], Event]]:
    """Each event with the key its task is kept under (as `_apply` keys `tasks`); task-less events left out."""
    return [((event.provider.value, _clean(event.task_key)), event) for event in events if event.task_key]


async def _held(
    conn: Conn, keys: Sequence[tuple[str, str | None]]
) -> dict[tuple[str, str | None], list[tuple[Event, int | None]]]:
    """The held events (and their capture ids) of these tasks, oldest first."""
    found: dict[tuple[str, str | None], list[tuple[Event, int | None]]] = {}
    if not keys:
        return found
    cursor = await conn.execute(
        "SELECT provider, task_key, capture_id, body FROM events WHERE effect = 'held' AND (provider, task_key) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[])) ORDER BY seq",
        ([p for p, _ in keys], [k for _, k in keys]),
    )
    for row in await cursor.fetchall():
        found.setdefault((row["provider"], row["task_key"]), []).append(
            (Event.model_validate_json(row["body"]), row["capture_id"])
        )
    return found


def _lock_name(event: Event) -> str:
    if event.task_key:
        return f"vodhook:task:{event.provider.value}/{event.task_key}"
    return f"vodhook:event:{event.event_id}"


def _event_row(event: Event, effect: Effect) -> tuple[Any, ...]:
    return (
        event.event_id,
        event.capture_id,
        _clean(event.source),
        event.provider.value,
        _clean(event.dialect),
        event.origin.value,
        _clean(event.event_type),
        _clean(event.task_id),
        _clean(event.task_key),
        _clean(event.media_id),
        event.status.value if event.status else None,
        event.outcome.value if event.outcome else None,
        _clean(event.transition_key),
        effect.value,
        event.received_at,
        event_json(event),
    )


def _outbox_rows(applied: Applied, sinks: Sequence[str], now: datetime) -> list[tuple[Any, ...]]:
    if not sinks:
        return []
    message = json.dumps(build_message(applied), ensure_ascii=False)
    return [
        (
            sink,
            applied.event.event_id,
            applied.event.provider.value,
            _clean(applied.event.task_key),
            applied.task.version if applied.task else None,
            message,
            "pending",
            now,
            now,
        )
        for sink in sinks
    ]


def _capture(row: DictRow) -> Capture:
    return Capture(
        id=row["id"],
        source=row["source"],
        dialect=row["dialect"],
        origin=Origin(row["origin"]),
        received_at=row["received_at"].astimezone(UTC),
        method=row["method"],
        path=row["path"],
        query=row["query"],
        headers=json.loads(row["headers"]),
        body=bytes(row["body"]),
        remote=row["remote"],
        verification=row["verification"],
        verification_reason=row["verification_reason"],
        state=CaptureState(row["state"]),
        error=row["error"],
        event_ids=tuple(json.loads(row["event_ids"])),
        processed_at=_utc(row["processed_at"]),
    )


def _stored(row: DictRow) -> StoredEvent:
    return StoredEvent(seq=row["seq"], event=Event.model_validate_json(row["body"]), effect=Effect(row["effect"]))


def _outbox_row(row: DictRow) -> OutboxMessage:
    created = row["created_at"].astimezone(UTC)
    return OutboxMessage(
        id=row["id"],
        sink=row["sink"],
        event_id=row["event_id"],
        provider=row["provider"],
        task_key=row["task_key"],
        version=row["version"],
        message=json.loads(row["message"]),
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"].astimezone(UTC),
        last_error=row["last_error"],
        created_at=created,
        redelivery=bool(row["redelivery"]),
        age_from=_utc(row["age_from"]) or created,
        delivered_at=_utc(row["delivered_at"]),
        dead_at=_utc(row["dead_at"]),
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"

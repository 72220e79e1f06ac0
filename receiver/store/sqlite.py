"""The embedded SQLite store: one writer thread with group commit, readers on their own connections.

Why a writer thread: SQLite allows one writer at a time, and a commit at `synchronous=FULL` costs an fsync.
Every write (a capture, a batch of normalization results) is queued to one thread that takes all the writes
waiting, runs each in its own savepoint, and commits them together: one fsync acknowledges many callbacks,
with the same durability as committing each one alone. A write's caller is woken only after the commit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

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

T = TypeVar("T")
_BATCH_MAX = 512


def to_text(when: datetime) -> str:
    """Sortable UTC text for a datetime, `2024-01-31T08:00:00.000000Z` (fixed width, so string order is time
    order). isoformat rather than strftime: the same text at a fraction of the cost, on every stored row."""
    utc = when if when.tzinfo is UTC else when.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_text(text: str) -> datetime:
    """The datetime `to_text` wrote (fromisoformat reads the "Z"; strptime costs fifty times more)."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def migrations(kind: str) -> list[tuple[int, str]]:
    """The numbered SQL migrations of a backend, in order."""
    folder = resources.files("receiver.store") / "migrations" / kind
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


@dataclass
class _CaptureJob:
    """One writer job of captures (`SqliteStore.capture`): the captures it took, once it ran."""

    taken: list[tuple[NewCapture, asyncio.Future[int]]] = field(default_factory=list)
    ran: bool = False


class _Writer(threading.Thread):
    """Runs queued write functions in group-committed transactions."""

    def __init__(self, path: Path, synchronous: Synchronous = "FULL") -> None:
        super().__init__(name="vodhook-sqlite-writer", daemon=True)
        self.path = path
        self.synchronous = synchronous
        self.jobs: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self.commits = 0
        self.ready: Future[None] = Future()
        self._lock_fd = -1

    def run(self) -> None:
        try:
            self._lock_fd = os.open(writer_lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
            with _locked(self._lock_fd):  # setting WAL mode wants the database to itself; it does not wait
                conn = _connect(self.path, synchronous=self.synchronous)
        except Exception as exc:  # reported to open(), which raises it
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
            self.ready.set_exception(exc)
            return
        self.ready.set_result(None)
        try:
            while True:
                first = self.jobs.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < _BATCH_MAX:
                    try:
                        job = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        self.jobs.put(None)
                        break
                    batch.append(job)
                self._run_batch(conn, batch)
        finally:
            conn.close()
            os.close(self._lock_fd)

    def _run_batch(
        self, conn: sqlite3.Connection, batch: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]]
    ) -> None:
        # A caller cancelled while its write waited (a client gone, a shutdown) gets nothing run for it; every
        # other future is marked running, so it can no longer be cancelled under our feet.
        batch = [(work, future) for work, future in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        with _locked(self._lock_fd):
            outcomes = self._commit(conn, batch)
        for future, value, error in outcomes:  # wake the callers once the lock is free again
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    def _commit(
        self, conn: sqlite3.Connection, batch: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]]
    ) -> list[tuple[Future[Any], Any, BaseException | None]]:
        """Run the batch's jobs, each in its own savepoint, in one transaction: what each job returned or raised."""
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for index, (work, future) in enumerate(batch):
                conn.execute(f"SAVEPOINT job{index}")
                try:
                    value = work(conn)
                except Exception as exc:
                    conn.execute(f"ROLLBACK TO job{index}")
                    results.append((future, None, exc))
                else:
                    results.append((future, value, None))
                conn.execute(f"RELEASE job{index}")
            conn.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"SQLite commit failed: {exc}")
            return [(future, None, failure) for _, future in batch]
        return results


def writer_lock_path(path: Path) -> Path:
    """The lock file the writers of one database take around each transaction.

    SQLite lets one process write at a time, and one that finds the database locked polls: its busy handler
    sleeps 1, 2, 5, 10, ... up to 100 ms between tries. The server's capture commits and the processing
    worker's batches collide many times a second, so a capture (and the provider waiting for its answer)
    would sleep past the moment the lock was free. A blocking `flock` wakes its waiter as soon as the holder
    lets go. SQLite's own lock stays what makes writes safe; this file only makes waiting for it prompt.
    """
    return path.with_name(path.name + "-writelock")


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """Hold the writer lock (`writer_lock_path`) open as `fd`."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


#: How a connection's commits reach the disk (`PRAGMA synchronous`): FULL syncs the WAL at every commit; NORMAL
#: (in WAL mode) leaves that to the next sync, so a power loss (not a crash of the process) may roll back the
#: newest transactions, whole (`SqliteStore`'s docstring says who may use it).
Synchronous = Literal["FULL", "NORMAL"]


def _connect(path: Path, *, readonly: bool = False, synchronous: Synchronous = "FULL") -> sqlite3.Connection:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous: {synchronous!r} is not FULL or NORMAL")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SqliteStore(Store):
    """Captures, events, tasks and the outbox in one SQLite file under the data dir.

    Commits are `synchronous=FULL` (an fsync each, shared by a group), except with `derived_writes`: the store
    of the processing worker (receiver/worker.py), which writes only what it derives from committed captures:
    each batch's events, task states and outbox rows with the marks of the captures it processed, then the
    tasks the fallback tracks. Its commits are NORMAL (no fsync of their own). A crash of any process loses
    none of them (they are in the WAL, in the OS's cache); a power loss can roll back only the newest, each
    whole, so a batch's captures are pending again and are processed again at the next start, into the same
    events (content ids). The tracking written after a batch can be lost alone, as it can be to a crash
    between the two with FULL commits; the fallback's sweep of the provider's task listing finds such a task.
    Whatever the server commits next syncs the worker's commits too, the WAL being one file written in order:
    the claim a sink's dispatcher commits before it sends (`claim_outbox`), for one, so no event is forwarded
    and then rolled back. Under load this takes the worker's fsyncs out of the writer lock the server's
    captures wait for (bench.ingest: about a sixth more callbacks processed per second, and a tenth less CPU
    per callback).
    """

    def __init__(
        self,
        path: Path,
        clock: Clock | None = None,
        refusals: RefusalSettings | None = None,
        *,
        derived_writes: bool = False,
    ) -> None:
        self.path = path
        self.clock = clock or SystemClock()
        self.refusals = refusals or RefusalSettings()
        self.synchronous: Synchronous = "NORMAL" if derived_writes else "FULL"
        self._writer: _Writer | None = None
        # Captures waiting for the writer (appended on the event loop, taken by the writer thread: a deque's
        # append and popleft are atomic), and whether a job that takes them is queued to the writer.
        self._captures_waiting: collections.deque[tuple[NewCapture, asyncio.Future[int]]] = collections.deque()
        self._capture_job_queued = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # lifecycle -----------------------------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._migrate)
        self._writer = _Writer(self.path, self.synchronous)
        self._writer.start()
        await asyncio.wrap_future(self._writer.ready)

    def _migrate(self) -> None:
        lock_fd = os.open(writer_lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with _locked(lock_fd):
                self._migrate_locked()
        finally:
            os.close(lock_fd)

    def _migrate_locked(self) -> None:
        conn = _connect(self.path)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            current = int(row["value"]) if row else 0
            known = migrations("sqlite")
            newest = known[-1][0] if known else 0
            if current > newest:
                raise NewerSchema(
                    f"data dir {str(self.path.parent)!r} has schema {current}, this vodhook knows up to {newest}:"
                    " upgrade vodhook instead of opening it with an older one"
                )
            for number, sql in known:
                if number <= current:
                    continue
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # another process may have migrated since we looked: look again under the write lock
                    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                    if row is not None and int(row["value"]) >= number:
                        conn.execute("COMMIT")
                        continue
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(number),),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        finally:
            conn.close()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.jobs.put(None)
            await asyncio.to_thread(writer.join)
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:  # sqlite3 connections may be closed from any thread (check_same_thread=False)
            conn.close()
        self._local = threading.local()

    async def ping(self) -> bool:
        if self._writer is None or not self._writer.is_alive():
            return False
        try:
            await self._read(lambda conn: conn.execute("SELECT 1").fetchone())
        except sqlite3.Error:
            return False
        return True

    @property
    def commits(self) -> int:
        return self._writer.commits if self._writer else 0

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None or not self._writer.is_alive():
            raise StoreUnavailable("the store is not open")
        future: Future[T] = Future()
        self._writer.jobs.put((work, future))
        return await asyncio.wrap_future(future)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._read_sync, work)

    def _read_sync(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return work(conn)

    # writes --------------------------------------------------------------------------------------------

    async def capture(self, capture: NewCapture) -> int:
        """Commit one capture, group-committed with every other capture that arrives meanwhile.

        Captures wait on the event loop, not one by one in the writer's queue: the first to arrive queues one
        job, which the writer runs when it starts its next transaction and which takes every capture waiting
        by then. A burst therefore costs one hand-off to the writer thread and one wake-up of the event loop
        per commit rather than one of each per callback (under load, those hand-offs, each fighting for the
        GIL, cost more than the inserts). The writer takes the captures itself, rather than the event loop
        handing them over after each commit, so it does not sit idle until a busy event loop gets round to it:
        under bench/ingest.py's load, the median pause between two of its commits went from 0.8–1.2 ms (a
        quarter of a commit's cycle) to 0.2 ms.
        """
        writer = self._writer
        if writer is None or not writer.is_alive():
            raise StoreUnavailable("the store is not open")
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[int] = loop.create_future()
        self._captures_waiting.append((capture, waiting))
        if not self._capture_job_queued:
            self._capture_job_queued = True
            job = _CaptureJob()
            committed: Future[list[int]] = Future()
            committed.add_done_callback(lambda done: loop.call_soon_threadsafe(self._settle_captures, job, done))
            writer.jobs.put((functools.partial(self._insert_waiting_captures, job), committed))
        return await waiting

    def _insert_waiting_captures(self, job: _CaptureJob, conn: sqlite3.Connection) -> list[int]:
        """In the writer thread: move the captures waiting into `job` and insert them (their ids, in order).
        Those whose caller has given up (a client gone) are left out, as a write the caller cancelled is."""
        job.ran = True
        self._capture_job_queued = False  # from here on, a capture that arrives queues the next job
        waiting = self._captures_waiting
        for _ in range(len(waiting)):
            capture, future = waiting.popleft()
            if not future.cancelled():
                job.taken.append((capture, future))
        return [self._insert_capture(conn, capture) for capture, _ in job.taken]

    def _settle_captures(self, job: _CaptureJob, committed: Future[list[int]]) -> None:
        """On the event loop, once the writer has committed or failed `job`: answer its captures' callers. A
        transaction that failed before the job ran took none: the captures still waiting fail with it (no job
        is queued for them any more)."""
        error = committed.exception()
        if error is None:
            for (_, waiting), capture_id in zip(job.taken, committed.result(), strict=True):
                if not waiting.done():
                    waiting.set_result(capture_id)
            return
        failed = job.taken
        if not job.ran:
            self._capture_job_queued = False
            failed = [self._captures_waiting.popleft() for _ in range(len(self._captures_waiting))]
        for _, waiting in failed:
            if not waiting.done():
                waiting.set_exception(error)

    def _insert_capture(self, conn: sqlite3.Connection, capture: NewCapture) -> int:
        state = CaptureState.REFUSED if capture.refused else CaptureState.PENDING
        cursor = conn.execute(
            "INSERT INTO captures (received_at, source, dialect, origin, remote, method, path, query, headers,"
            " body, body_size, verification, verification_reason, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                to_text(capture.received_at),
                capture.source,
                capture.dialect,
                capture.origin.value,
                capture.remote,
                capture.method,
                capture.path,
                capture.query,
                json.dumps(capture.headers, ensure_ascii=False),
                capture.body,
                len(capture.body),
                capture.verification,
                capture.verification_reason,
                state.value,
            ),
        )
        if capture.refused:
            self._cap_refused(conn)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _cap_refused(self, conn: sqlite3.Connection) -> None:
        """Delete the oldest refused captures and refusals beyond the configured count and size."""
        limits = self.refusals
        for table, size_column, where in (
            ("captures", "body_size", "WHERE state = 'refused'"),
            ("refusals", "length(body_head)", ""),
        ):
            count, size = conn.execute(
                f"SELECT count(*), coalesce(sum({size_column}), 0) FROM {table} {where}"
            ).fetchone()
            if count <= limits.max_count and size <= limits.max_bytes:
                continue
            rows = conn.execute(f"SELECT id, {size_column} AS size FROM {table} {where} ORDER BY id").fetchall()
            doomed = []
            for row in rows:
                if count <= limits.max_count and size <= limits.max_bytes:
                    break
                doomed.append(row["id"])
                count -= 1
                size -= row["size"]
            conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in doomed])

    async def refuse(self, refusal: Refusal) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO refusals (received_at, source, remote, reason, headers, body_size, body_head)"
                " VALUES (?,?,?,?,?,?,?)",
                (
                    to_text(refusal.received_at),
                    refusal.source,
                    refusal.remote,
                    refusal.reason,
                    json.dumps(refusal.headers, ensure_ascii=False),
                    refusal.body_size,
                    refusal.body_head[: self.refusals.head_bytes],
                ),
            )
            self._cap_refused(conn)

        await self._write(work)

    async def apply(self, results: Sequence[Processed], route: OutboxRouter | None = None) -> list[list[Applied]]:
        return await self._write(lambda conn: [self._apply_one(conn, result, route) for result in results])

    def _apply_one(self, conn: sqlite3.Connection, result: Processed, route: OutboxRouter | None) -> list[Applied]:
        now = self.clock.now()
        if result.error is not None:
            conn.execute(
                "UPDATE captures SET state = 'quarantined', error = ?, processed_at = ? WHERE id = ?",
                (result.error, to_text(now), result.capture_id),
            )
            return []
        reapplied: list[tuple[Event, int | None]] = []
        applied = [self._apply_event(conn, event, now, route, result.hold, reapplied) for event in result.events]
        conn.execute(
            "UPDATE captures SET state = 'processed', error = NULL, event_ids = ?, processed_at = ? WHERE id = ?",
            (json.dumps([event.event_id for event in result.events]), to_text(now), result.capture_id),
        )
        if any(event.origin in TRUSTED_REPORTS for event in result.events):
            applied = self._judge(conn, applied, reapplied, result.confirm_grace_s)
        return applied

    def _apply_event(
        self,
        conn: sqlite3.Connection,
        event: Event,
        now: datetime,
        route: OutboxRouter | None,
        hold: bool = False,
        reapplied: list[tuple[Event, int | None]] | None = None,
    ) -> Applied:
        known = conn.execute("SELECT effect, capture_id FROM events WHERE event_id = ?", (event.event_id,)).fetchone()
        current = self._load_task(conn, event.provider.value, event.task_key) if event.task_key else None
        was = Effect(known["effect"]) if known is not None else None
        if was is not None and (was not in UNSETTLED or (was is Effect.HELD and hold)):
            duplicate = Applied(event=event, duplicate=True, effect=was, task=current)
            if route is not None and was is not Effect.HELD:  # only sinks that ask for every event take duplicates
                self._enqueue_outbox(conn, duplicate, route(duplicate), now)
            return duplicate
        task, effect = merge(current, event, now)
        if hold and holds(event, effect):
            task, effect = current, Effect.HELD
        if was is not None:  # held or unconfirmed until now: merged again (see `Store.apply`)
            conn.execute("UPDATE events SET effect = ? WHERE event_id = ?", (effect.value, event.event_id))
            if was is Effect.HELD and reapplied is not None:
                reapplied.append((event, known["capture_id"]))
        else:
            self._insert_event(conn, event, effect)
        if effect is Effect.APPLIED and task is not None:
            conn.execute(
                "INSERT INTO tasks (provider, task_key, version, status, outcome, source, changed_at, body)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (provider, task_key) DO UPDATE SET"
                " version = excluded.version, status = excluded.status, outcome = excluded.outcome,"
                " changed_at = excluded.changed_at, body = excluded.body",
                (
                    task.provider.value,
                    task.task_id,
                    task.version,
                    task.status.value,
                    task.outcome.value if task.outcome else None,
                    task.source,
                    to_text(task.changed_at),
                    task_json(task),
                ),
            )
        applied = Applied(event=event, duplicate=False, effect=effect, task=task)
        if effect is Effect.HELD:
            self._due_for_confirmation(conn, event, now)  # nothing is forwarded until the provider confirms
        elif route is not None:
            self._enqueue_outbox(conn, applied, route(applied), now)
        return applied

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, event: Event, effect: Effect) -> None:
        conn.execute(
            "INSERT INTO events (event_id, capture_id, source, provider, dialect, origin, event_type, task_id,"
            " task_key, media_id, status, outcome, transition_key, effect, received_at, body)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.event_id,
                event.capture_id,
                event.source,
                event.provider.value,
                event.dialect,
                event.origin.value,
                event.event_type,
                event.task_id,
                event.task_key,
                event.media_id,
                event.status.value if event.status else None,
                event.outcome.value if event.outcome else None,
                event.transition_key,
                effect.value,
                to_text(event.received_at),
                event_json(event),
            ),
        )

    @staticmethod
    def _due_for_confirmation(conn: sqlite3.Connection, event: Event, now: datetime) -> None:
        """Track the held event's task, open and due now, in the transaction that holds it."""
        assert event.task_key is not None  # holds() needs an applied change: a task
        fresh = confirm_tracked(event, now)
        conn.execute(
            f"INSERT INTO tracked_tasks ({_TRACKED_COLUMNS}) VALUES ({_TRACKED_MARKS})"
            " ON CONFLICT (provider, task_id) DO UPDATE SET state = 'open', next_check_at = excluded.next_check_at,"
            " resolved_at = NULL",
            _tracked_params(fresh),
        )

    def _judge(
        self,
        conn: sqlite3.Connection,
        applied: list[Applied],
        reapplied: list[tuple[Event, int | None]],
        grace_s: float,
    ) -> list[Applied]:
        """After a trusted report: judge the held callbacks of each task it reported on (`state.judge_held`,
        with the asking source's grace)."""
        last: dict[tuple[str, str], int] = {}
        for index, item in enumerate(applied):
            if item.event.task_key is not None and item.event.status is not None:
                last[(item.event.provider.value, item.event.task_key)] = index
        reapplied_ids = {event.event_id for event, _ in reapplied}
        for (provider, task_key), index in last.items():
            report = applied[index]
            held = self._held(conn, provider, task_key)
            task = self._load_task(conn, provider, task_key)
            verdicts, still_held = judge_all(held, reapplied, task, report.event, grace_s)
            # a reapplied event's row already holds what the report's merge made of it
            self._settle(conn, [verdict for verdict in verdicts if verdict.event_id not in reapplied_ids])
            applied[index] = replace(report, confirmations=tuple(verdicts), still_held=still_held)
        return applied

    @staticmethod
    def _held(conn: sqlite3.Connection, provider: str, task_key: str) -> list[tuple[Event, int | None]]:
        rows = conn.execute(
            "SELECT capture_id, body FROM events WHERE provider = ? AND task_key = ? AND effect = 'held' ORDER BY seq",
            (provider, task_key),
        ).fetchall()
        return [(Event.model_validate_json(row["body"]), row["capture_id"]) for row in rows]

    def _settle(self, conn: sqlite3.Connection, verdicts: Sequence[Confirmation]) -> None:
        """Write verdicts on held events: their effect, and for the unconfirmed a refused capture with the reason."""
        if not verdicts:
            return
        conn.executemany(
            "UPDATE events SET effect = ? WHERE event_id = ?", [(v.effect.value, v.event_id) for v in verdicts]
        )
        refused = [(v.reason, v.capture_id) for v in verdicts if v.effect is Effect.UNCONFIRMED and v.capture_id]
        if refused:
            conn.executemany("UPDATE captures SET state = 'refused', error = ? WHERE id = ?", refused)
            self._cap_refused(conn)

    async def refuse_held(
        self, provider: str, task_id: str, asked_at: datetime, said: str, *, grace_s: float = 0.0
    ) -> list[Confirmation]:
        def work(conn: sqlite3.Connection) -> list[Confirmation]:
            verdicts = []
            for event, capture_id in self._held(conn, provider, task_id):
                effect, reason = judge_unanswered(event, asked_at, said, grace_s)
                if effect is not Effect.HELD:
                    verdicts.append(Confirmation(event.event_id, capture_id, effect, reason))
            self._settle(conn, verdicts)
            return verdicts

        return await self._write(work)

    def _enqueue_outbox(self, conn: sqlite3.Connection, applied: Applied, sinks: Sequence[str], now: datetime) -> None:
        if not sinks:
            return
        message = json.dumps(build_message(applied), ensure_ascii=False)
        conn.executemany(
            "INSERT INTO outbox (sink, event_id, provider, task_key, version, message, state, next_attempt_at,"
            " created_at) VALUES (?,?,?,?,?,?,'pending',?,?)",
            [
                (
                    sink,
                    applied.event.event_id,
                    applied.event.provider.value,
                    applied.event.task_key,
                    applied.task.version if applied.task else None,
                    message,
                    to_text(now),
                    to_text(now),
                )
                for sink in sinks
            ],
        )

    @staticmethod
    def _load_task(conn: sqlite3.Connection, provider: str, task_key: str) -> Task | None:
        row = conn.execute(
            "SELECT body FROM tasks WHERE provider = ? AND task_key = ?", (provider, task_key)
        ).fetchone()
        return Task.model_validate_json(row["body"]) if row else None

    async def reset_captures(self, capture_ids: Sequence[int]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE captures SET state = 'pending', error = NULL WHERE id = ?", [(i,) for i in capture_ids]
            )

        await self._write(work)

    async def import_capture(self, capture: NewCapture) -> int | None:
        headers = json.dumps(capture.headers, ensure_ascii=False)

        def work(conn: sqlite3.Connection) -> int | None:
            same = conn.execute(
                "SELECT headers, body FROM captures WHERE received_at = ? AND source = ? AND method = ? AND path = ?"
                " AND query = ?",
                (to_text(capture.received_at), capture.source, capture.method, capture.path, capture.query),
            )
            if any(row["headers"] == headers and bytes(row["body"]) == capture.body for row in same):
                return None
            return self._insert_capture(conn, capture)

        return await self._write(work)

    async def prune_captures(self, older_than: datetime | None = None, max_bytes: int | None = None) -> int:
        def work(conn: sqlite3.Connection) -> int:
            deleted = 0
            if older_than is not None:
                deleted += conn.execute(
                    "DELETE FROM captures WHERE received_at < ? AND state != 'pending'", (to_text(older_than),)
                ).rowcount
            if max_bytes is not None:
                total = conn.execute("SELECT coalesce(sum(body_size), 0) FROM captures").fetchone()[0]
                doomed: list[int] = []
                rows = conn.execute(
                    "SELECT id, body_size FROM captures WHERE state != 'pending' ORDER BY received_at, id"
                )
                for row in rows:
                    if total <= max_bytes:
                        break
                    doomed.append(row["id"])
                    total -= row["body_size"]
                conn.executemany("DELETE FROM captures WHERE id = ?", [(i,) for i in doomed])
                deleted += len(doomed)
            return deleted

        return await self._write(work)

    # reads ---------------------------------------------------------------------------------------------

    async def pending_captures(self, limit: int = 500, after_id: int = 0) -> list[Capture]:
        return await self._read(
            lambda conn: [
                _capture(row)
                for row in conn.execute(
                    "SELECT * FROM captures WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?", (after_id, limit)
                )
            ]
        )

    async def get_capture(self, capture_id: int) -> Capture | None:
        def work(conn: sqlite3.Connection) -> Capture | None:
            row = conn.execute("SELECT * FROM captures WHERE id = ?", (capture_id,)).fetchone()
            return _capture(row) if row else None

        return await self._read(work)

    async def list_captures(self, filt: CaptureFilter) -> list[Capture]:
        where, params = render_where(capture_conditions(filt), "?", _sqlite_value)
        order = "ASC" if filt.after_id is not None else "DESC"
        sql = f"SELECT * FROM captures {where} ORDER BY id {order} LIMIT ?"
        return await self._read(lambda conn: [_capture(row) for row in conn.execute(sql, (*params, filt.limit))])

    async def list_refusals(self, limit: int = 100) -> list[Refusal]:
        def work(conn: sqlite3.Connection) -> list[Refusal]:
            rows = conn.execute("SELECT * FROM refusals ORDER BY id DESC LIMIT ?", (limit,))
            return [
                Refusal(
                    id=row["id"],
                    source=row["source"],
                    received_at=from_text(row["received_at"]),
                    remote=row["remote"],
                    reason=row["reason"],
                    headers=json.loads(row["headers"]),
                    body_size=row["body_size"],
                    body_head=bytes(row["body_head"]),
                )
                for row in rows
            ]

        return await self._read(work)

    async def list_events(self, filt: EventFilter) -> list[StoredEvent]:
        where, params = _event_where(filt)
        sql = f"SELECT seq, effect, body FROM events {where} ORDER BY seq DESC LIMIT ?"
        return await self._read(lambda conn: [_stored(row) for row in conn.execute(sql, (*params, filt.limit))])

    async def get_event(self, event_id: str) -> StoredEvent | None:
        def work(conn: sqlite3.Connection) -> StoredEvent | None:
            row = conn.execute("SELECT seq, effect, body FROM events WHERE event_id = ?", (event_id,)).fetchone()
            return _stored(row) if row else None

        return await self._read(work)

    async def get_task(self, provider: str, task_id: str) -> Task | None:
        return await self._read(lambda conn: self._load_task(conn, provider, task_id))

    async def task_events(self, provider: str, task_id: str) -> list[StoredEvent]:
        sql = "SELECT seq, effect, body FROM events WHERE provider = ? AND task_key = ? ORDER BY seq"
        return await self._read(lambda conn: [_stored(row) for row in conn.execute(sql, (provider, task_id))])

    async def counts(self) -> dict[str, int]:
        def work(conn: sqlite3.Connection) -> dict[str, int]:
            found = {f"captures_{state.value}": 0 for state in CaptureState}
            for row in conn.execute("SELECT state, count(*) AS n FROM captures GROUP BY state"):
                found[f"captures_{row['state']}"] = row["n"]
            found["events"] = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            found["tasks"] = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
            found["refusals"] = conn.execute("SELECT count(*) FROM refusals").fetchone()[0]
            return found

        return await self._read(work)

    async def backlog(self) -> Backlog:
        def work(conn: sqlite3.Connection) -> Backlog:
            captures = {
                state: conn.execute("SELECT count(*) FROM captures WHERE state = ?", (state,)).fetchone()[0]
                for state in BACKLOG_CAPTURE_STATES
            }
            outbox = {
                (row[0], row[1]): row[2]
                for row in conn.execute(
                    "SELECT sink, state, count(*) FROM outbox WHERE state IN (?, ?) GROUP BY sink, state",
                    BACKLOG_OUTBOX_STATES,
                )
            }
            return Backlog(captures=captures, outbox=outbox)

        return await self._read(work)

    # several receivers on one store --------------------------------------------------------------------

    async def claim_captures(
        self, limit: int = 500, after_id: int = 0, lease_s: float = CAPTURE_LEASE_S
    ) -> list[Capture]:
        """One process owns an SQLite data dir (its writer thread), so every pending capture is its own."""
        return await self.pending_captures(limit=limit, after_id=after_id)

    async def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        now = self.clock.now()

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET"
                " holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE leases.holder = excluded.holder OR leases.expires_at <= ? RETURNING holder",
                (name, holder, to_text(now + timedelta(seconds=ttl_s)), to_text(now)),
            ).fetchone()
            return row is not None

        return await self._write(work)

    async def renew_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        until = to_text(self.clock.now() + timedelta(seconds=ttl_s))

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?", (until, name, holder)
            )
            return cursor.rowcount == 1

        return await self._write(work)

    async def release_lease(self, name: str, holder: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

        await self._write(work)

    async def lease_holder(self, name: str) -> str | None:
        now = to_text(self.clock.now())

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT holder FROM leases WHERE name = ? AND expires_at > ?", (name, now)).fetchone()
            return str(row["holder"]) if row else None

        return await self._read(work)

    async def take_tokens(self, bucket: str, rate: float, burst: float, n: float = 1.0) -> float:
        check_bucket(rate, burst, n)
        cost = n / rate

        def work(conn: sqlite3.Connection) -> float:
            # Read the clock inside the write transaction (other processes' reservations are serialized by its
            # lock): a time read before waiting for the lock would reserve in the past, where the bucket may
            # still have room, and hand out more than the rate.
            now = self.clock.now().timestamp()
            row = conn.execute(
                "INSERT INTO rate_buckets (name, tat) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET"
                " tat = max(rate_buckets.tat, ?) + ? RETURNING tat",
                (bucket, now + cost, now, cost),
            ).fetchone()
            return max(0.0, float(row["tat"]) - burst / rate - now)

        return await self._write(work)

    # the outbox ----------------------------------------------------------------------------------------

    async def claim_outbox(self, sink: str, now: datetime, lease_until: datetime, limit: int) -> list[OutboxMessage]:
        def work(conn: sqlite3.Connection) -> list[OutboxMessage]:
            rows = conn.execute(
                # walk the sink's pending rows in id order and stop at `limit` (no sort of the whole backlog)
                "SELECT o.* FROM outbox o INDEXED BY outbox_by_state"
                " WHERE o.state = 'pending' AND o.sink = ? AND o.next_attempt_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.sink = o.sink AND p.provider = o.provider"
                " AND p.task_key = o.task_key AND p.state = 'pending' AND p.id < o.id AND p.next_attempt_at > ?)"
                " ORDER BY o.id LIMIT ?",
                (sink, to_text(now), to_text(now), limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET next_attempt_at = ? WHERE id = ?", [(to_text(lease_until), r["id"]) for r in rows]
            )
            return [_outbox_row(row, next_attempt_at=lease_until) for row in rows]

        return await self._write(work)

    async def settle_outbox(self, settlements: Sequence[Settlement]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            for item in settlements:
                conn.execute(
                    "UPDATE outbox SET state = ?, attempts = attempts + ?, last_error = coalesce(?, last_error),"
                    " next_attempt_at = coalesce(?, next_attempt_at),"
                    " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END,"
                    " dead_at = CASE WHEN ? = 'dead' THEN ? ELSE dead_at END WHERE id = ?",
                    (
                        item.state.value,
                        1 if item.attempted else 0,
                        item.error,
                        to_text(item.next_attempt_at) if item.next_attempt_at else None,
                        item.state.value,
                        to_text(item.at),
                        item.state.value,
                        to_text(item.at),
                        item.id,
                    ),
                )

        if settlements:
            await self._write(work)

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
                clauses.append(f"{column} = ?")
                params.append(value)
        if filt.ids is not None:
            clauses.append(f"id IN ({','.join('?' * len(filt.ids))})" if filt.ids else "0")
            params.extend(filt.ids)
        if filt.before is not None:
            clauses.append("created_at < ?")
            params.append(to_text(filt.before))
        if filt.before_id is not None:
            clauses.append("id < ?")
            params.append(filt.before_id)
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params

    async def list_outbox(self, filt: OutboxFilter) -> list[OutboxMessage]:
        where, params = self._outbox_where(filt, filt.state)
        sql = f"SELECT * FROM outbox {where} ORDER BY id DESC LIMIT ?"
        return await self._read(lambda conn: [_outbox_row(row) for row in conn.execute(sql, (*params, filt.limit))])

    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        def work(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
            found: dict[str, dict[str, int]] = {}
            for row in conn.execute("SELECT sink, state, count(*) AS n FROM outbox GROUP BY sink, state"):
                found.setdefault(row["sink"], {})[row["state"]] = row["n"]
            return found

        return await self._read(work)

    async def retry_outbox(self, filt: OutboxFilter, now: datetime) -> int:
        where, params = self._outbox_where(filt, OutboxState.DEAD)

        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, age_from = ?, next_attempt_at = ?,"
                f" dead_at = NULL {where}",
                (to_text(now), to_text(now), *params),
            )
            return cursor.rowcount

        return await self._write(work)

    async def purge_outbox(self, filt: OutboxFilter) -> int:
        if filt.state not in (OutboxState.DEAD, OutboxState.DELIVERED):
            raise ValueError(f"purge_outbox: state must be dead or delivered (got {filt.state!r})")
        where, params = self._outbox_where(filt, filt.state)
        return await self._write(lambda conn: conn.execute(f"DELETE FROM outbox {where}", params).rowcount)

    async def redeliver(self, sink: str, filt: EventFilter, now: datetime) -> int:
        where, params = _event_where(filt)
        sql = f"SELECT seq, effect, body FROM events {where} ORDER BY seq LIMIT ?"

        def work(conn: sqlite3.Connection) -> int:
            queued = 0
            stamp = to_text(now)
            for row in conn.execute(sql, (*params, filt.limit)).fetchall():
                stored = _stored(row)
                event = stored.event
                first = conn.execute(
                    "SELECT message FROM outbox WHERE event_id = ? ORDER BY id LIMIT 1", (event.event_id,)
                ).fetchone()
                if first is not None:
                    text = first["message"]
                else:
                    task = self._load_task(conn, event.provider.value, event.task_key) if event.task_key else None
                    applied = Applied(event=event, duplicate=False, effect=stored.effect, task=task)
                    text = json.dumps(build_message(applied), ensure_ascii=False)
                version = json.loads(text).get("version")
                conn.execute(
                    "INSERT INTO outbox (sink, event_id, provider, task_key, version, message, state, next_attempt_at,"
                    " created_at, redelivery) VALUES (?,?,?,?,?,?,'pending',?,?,1)",
                    (sink, event.event_id, event.provider.value, event.task_key, version, text, stamp, stamp),
                )
                queued += 1
            return queued

        return await self._write(work)

    # the fallback's tracking ---------------------------------------------------------------------------

    async def track_tasks(self, tasks: Sequence[TrackedTask]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                f"INSERT INTO tracked_tasks ({_TRACKED_COLUMNS}) VALUES ({_TRACKED_MARKS})"
                " ON CONFLICT (provider, task_id) DO NOTHING",
                [_tracked_params(task) for task in tasks],
            )
            return conn.total_changes - before

        return await self._write(work) if tasks else 0

    async def save_tracked(self, task: TrackedTask) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT OR REPLACE INTO tracked_tasks ({_TRACKED_COLUMNS}) VALUES ({_TRACKED_MARKS})",
                _tracked_params(task),
            )

        await self._write(work)

    async def get_tracked(self, provider: str, task_id: str) -> TrackedTask | None:
        def work(conn: sqlite3.Connection) -> TrackedTask | None:
            row = conn.execute(
                "SELECT * FROM tracked_tasks WHERE provider = ? AND task_id = ?", (provider, task_id)
            ).fetchone()
            return _tracked(row) if row else None

        return await self._read(work)

    async def list_tracked(self, filt: TrackedFilter) -> list[TrackedTask]:
        clauses, params = [], []
        if filt.state is not None:
            clauses.append("state = ?")
            params.append(filt.state.value)
        if filt.due_at is not None:
            clauses.append("next_check_at <= ?")
            params.append(to_text(filt.due_at))
        if filt.overdue_at is not None:
            clauses.append("deadline <= ?")
            params.append(to_text(filt.overdue_at))
        if filt.source is not None:
            clauses.append("source = ?")
            params.append(filt.source)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""

        def work(conn: sqlite3.Connection) -> list[TrackedTask]:
            rows = conn.execute(
                f"SELECT * FROM tracked_tasks {where} ORDER BY deadline, task_id LIMIT ?", (*params, filt.limit)
            ).fetchall()
            return [_tracked(row) for row in rows]

        return await self._read(work)

    async def close_tracked(self, keys: Sequence[tuple[str, str]], state: TrackState, at: datetime) -> int:
        def work(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "UPDATE tracked_tasks SET state = ?, resolved_at = ? WHERE provider = ? AND task_id = ?"
                " AND state = 'open'",
                [(state.value, to_text(at), provider, task_id) for provider, task_id in keys],
            )
            return conn.total_changes - before

        return await self._write(work) if keys else 0

    async def tracked_counts(self, now: datetime) -> dict[str, int]:
        def work(conn: sqlite3.Connection) -> dict[str, int]:
            found = {state.value: 0 for state in TrackState}
            for row in conn.execute("SELECT state, count(*) AS n FROM tracked_tasks GROUP BY state"):
                found[row["state"]] = int(row["n"])
            row = conn.execute(
                "SELECT count(*) AS n FROM tracked_tasks WHERE state = 'open' AND deadline <= ?", (to_text(now),)
            ).fetchone()
            found["overdue"] = int(row["n"])
            return found

        return await self._read(work)

    async def get_cursor(self, name: str) -> str | None:
        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
            return str(row["value"]) if row else None

        return await self._read(work)

    async def set_cursor(self, name: str, value: str | None) -> None:
        now = to_text(self.clock.now())

        def work(conn: sqlite3.Connection) -> None:
            if value is None:
                conn.execute("DELETE FROM cursors WHERE name = ?", (name,))
            else:
                conn.execute(
                    "INSERT INTO cursors (name, value, updated_at) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE"
                    " SET value = excluded.value, updated_at = excluded.updated_at",
                    (name, value, now),
                )

        await self._write(work)


_TRACKED_COLUMNS = (
    "provider, task_id, source, via, task_kind, state, tracked_at, created_at, deadline, next_check_at,"
    " attempts, last_error, resolved_at"
)
_TRACKED_MARKS = ",".join("?" * 13)


def _tracked_params(task: TrackedTask) -> tuple[Any, ...]:
    return (
        task.provider,
        task.task_id,
        task.source,
        task.via,
        task.task_kind,
        task.state.value,
        to_text(task.tracked_at),
        to_text(task.created_at) if task.created_at else None,
        to_text(task.deadline),
        to_text(task.next_check_at),
        task.attempts,
        task.last_error,
        to_text(task.resolved_at) if task.resolved_at else None,
    )


def _tracked(row: sqlite3.Row) -> TrackedTask:
    return TrackedTask(
        provider=row["provider"],
        task_id=row["task_id"],
        source=row["source"],
        via=row["via"],
        task_kind=row["task_kind"],
        state=TrackState(row["state"]),
        tracked_at=from_text(row["tracked_at"]),
        created_at=from_text(row["created_at"]) if row["created_at"] else None,
        deadline=from_text(row["deadline"]),
        next_check_at=from_text(row["next_check_at"]),
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        resolved_at=from_text(row["resolved_at"]) if row["resolved_at"] else None,
    )


def _event_where(filt: EventFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) selecting the events an `EventFilter` names."""
    return render_where(event_conditions(filt), "?", _sqlite_value)


def _sqlite_value(value: Any) -> Any:
    """Times are stored as sortable text; everything else binds as it is."""
    return to_text(value) if isinstance(value, datetime) else value


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (they hold no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def _capture(row: sqlite3.Row) -> Capture:
    return Capture(
        id=row["id"],
        source=row["source"],
        dialect=row["dialect"],
        origin=Origin(row["origin"]),
        received_at=from_text(row["received_at"]),
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
        processed_at=from_text(row["processed_at"]) if row["processed_at"] else None,
    )


def _stored(row: sqlite3.Row) -> StoredEvent:
    return StoredEvent(seq=row["seq"], event=Event.model_validate_json(row["body"]), effect=Effect(row["effect"]))


def _outbox_row(row: sqlite3.Row, next_attempt_at: datetime | None = None) -> OutboxMessage:
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
        next_attempt_at=next_attempt_at or from_text(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=from_text(row["created_at"]),
        redelivery=bool(row["redelivery"]),
        age_from=from_text(row["age_from"] or row["created_at"]),
        delivered_at=from_text(row["delivered_at"]) if row["delivered_at"] else None,
        dead_at=from_text(row["dead_at"]) if row["dead_at"] else None,
    )

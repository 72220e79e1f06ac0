"""The ingest pipeline, top to bottom: verify → capture → (answer) → decode/normalize → task state → outbox.

`Pipeline.receive` is the request path: it verifies the raw request, commits the capture and returns; the
provider gets its answer only after the commit. Everything after runs in `Pipeline`'s processor task, right
after the commit: captures carry a durable "pending" mark until their result is stored, and `start()`
re-drives every pending capture, so a crash between the answer and the processing loses nothing.
Query answers (poll, pull) and replays enter through `ingest_document`/`receive` and take the same path.

Several receivers on one shared store (PostgreSQL): a capture belongs to the receiver that captured it (a
lease), and the re-drive claims pending captures (`Store.claim_captures`) instead of reading them, so each is
processed by one receiver at a time; an idle receiver claims, every `takeover_every_s`, the captures whose
holder's lease ran out, so a receiver that dies mid-way leaves its work to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from receiver import dialects
from receiver.clock import Clock
from receiver.config import SourceSettings
from receiver.dialects.base import (
    ACCEPTED_UNSIGNED,
    Dialect,
    NormalizeContext,
    RawCallback,
    Unidentifiable,
    Verdict,
    Verification,
)
from receiver.model import Event, Origin
from receiver.store.base import Applied, Capture, NewCapture, OutboxRouter, Processed, Store

log = logging.getLogger("vodhook.ingest")

AppliedListener = Callable[[Sequence[Applied]], Awaitable[None]]

_QUEUE_MAX = 10_000
_BATCH_MAX = 256
#: How many ids of captures read back from the store a processor remembers (see `Pipeline.offer`).
_REMEMBERED_MAX = 16_384
_TAKEOVER_EVERY_S = 5.0
_FETCHED_GRACE_S = 30.0


@dataclass(frozen=True)
class Receipt:
    """What the request path tells the route: the capture id and whether the request was accepted."""

    capture_id: int
    verification: Verification


class Pipeline:
    """Owns the processing of captures; one per running receiver."""

    def __init__(
        self,
        store: Store,
        sources: Mapping[str, SourceSettings],
        clock: Clock,
        route: OutboxRouter | None = None,
        *,
        poll_s: float | None = None,
    ) -> None:
        self.store = store
        self.sources = dict(sources)
        self.clock = clock
        self.route = route
        self.listeners: list[AppliedListener] = []
        self._queue: asyncio.Queue[Capture] = asyncio.Queue(_QUEUE_MAX)
        self._overflowed = False
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.processed = 0
        #: With a store several receivers share, how often an idle processor claims the pending captures
        #: whose holder's lease ran out (a receiver that died mid-way); None: never (one process per store).
        self.takeover_every_s: float | None = _TAKEOVER_EVERY_S if store.shared else None
        #: Set in a processing worker (receiver.worker): captures arrive through the store, not the queue, so
        #: the processor reads pending captures back every `poll_s` when it has found none.
        self.poll_s = poll_s
        #: True when a worker process (receiver.worker) processes this receiver's captures.
        self.external = False
        #: Set when a worker process processes this receiver's captures: each accepted capture goes to it as
        #: soon as it is committed (`Worker.hand_over`), so the worker need not read it back from the store.
        self.hand_over: Callable[[Capture], None] | None = None
        #: How long to let captures gather after the first of a batch (a worker's, whose captures come one by
        #: one through its pipe; 0: take what is queued).
        self.gather_s = 0.0
        self._queued_ids: set[int] = set()  # offered and queued, not yet processed
        self._unfinished = 0  # offered and not yet processed (or failed): what `drain` waits for
        self._read_back: dict[int, None] = {}  # read back from the store and processed, oldest first

    @property
    def processing(self) -> bool:
        """False while nothing in this process processes captures (capture-only mode, or a worker process
        does it, or stopped): `receive` then only commits them, pending."""
        return self._task is not None

    # lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start processing, beginning with every capture a previous run left pending."""
        self._overflowed = True  # the first pass reads pending captures from the store
        self._task = asyncio.create_task(self._run(), name="vodhook-processor")

    async def stop(self) -> None:
        """Finish what is queued, then stop. Whatever is left stays pending for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        if self.poll_s is None:  # a worker's pending captures are in the store, not in a queue: just stop
            with contextlib.suppress(TimeoutError):
                await self.drain(timeout=10.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until nothing is queued or being processed (tests and benchmarks use it); when a worker
        process does the processing, until the store holds no pending capture."""

        async def idle() -> None:
            if self._task is None and self.external:
                while await self.store.pending_captures(limit=1):
                    await asyncio.sleep(0.01)
                return
            while not (self._unfinished == 0 and self._idle.is_set() and not self._overflowed):
                await asyncio.sleep(0.005)

        await asyncio.wait_for(idle(), timeout)

    # the request path ----------------------------------------------------------------------------------

    async def receive(self, raw: RawCallback, origin: Origin = Origin.CALLBACK) -> Receipt:
        """Verify and durably capture one request; queue it for processing if it was accepted."""
        source = self.sources[raw.source]
        dialect = _source_dialect(source, raw)
        verification = dialect.verify(raw, source.signing_policy(), raw.received_at) if dialect else ACCEPTED_UNSIGNED
        new = NewCapture(
            source=raw.source,
            dialect=dialect.name if dialect else source.dialect,
            received_at=raw.received_at,
            method=raw.method,
            path=raw.path,
            query=raw.query,
            headers=dict(raw.headers),
            body=raw.body,
            remote=raw.remote,
            verification=verification.verdict.value,
            verification_reason=verification.reason,
            origin=origin,
        )
        capture_id = await self.store.capture(new)
        take = self.offer if self.processing else self.hand_over
        if verification.accepted and take is not None:
            take(Capture(**vars(new), id=capture_id))
        return Receipt(capture_id, verification)

    def offer(self, capture: Capture) -> None:
        """Queue a committed capture for processing.

        A capture can reach a processor twice: offered (by `receive`, or by the server through the worker's
        hand-over pipe) and read back from the store by a pass that ran while the offer was on its way. The
        read-back skips captures that are queued, and an offer of one already read back is dropped."""
        if capture.id in self._read_back:
            del self._read_back[capture.id]
            return
        try:
            self._queue.put_nowait(capture)
        except asyncio.QueueFull:
            self._overflowed = True  # it is durable and pending: the processor will read it back
            return
        self._queued_ids.add(capture.id)
        self._unfinished += 1

    def rescan(self) -> None:
        """Look in the store for pending captures once the queue is empty (the server could not hand some over)."""
        self._overflowed = True

    # processing ----------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._overflowed and self._queue.empty():
                self._idle.clear()
                try:
                    await self._refill()
                except Exception:  # e.g. the store is briefly down: the captures stay pending, try again
                    log.exception("reading back pending captures failed; they stay pending")
                    await asyncio.sleep(1.0)
                    self._overflowed = True
                    continue
                finally:
                    self._idle.set()
            try:
                first = await asyncio.wait_for(self._queue.get(), self.poll_s or self.takeover_every_s)
            except TimeoutError:  # a worker's poll, or with a shared store: look for captures a dead receiver left
                self._overflowed = True
                continue
            batch = [first]
            self._idle.clear()
            try:
                if self.gather_s and self._queue.qsize() < _BATCH_MAX:
                    await asyncio.sleep(self.gather_s)
                while len(batch) < _BATCH_MAX and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                self._queued_ids.difference_update(capture.id for capture in batch)
                await self._process_batch(batch)
            except Exception:
                log.exception("processing a batch of %d captures failed; they stay pending", len(batch))
                await asyncio.sleep(1.0)
                self._overflowed = True
            finally:
                self._unfinished -= len(batch)
                self._idle.set()

    async def _refill(self) -> None:
        self._overflowed = False
        after = 0
        while True:
            pending = await self.store.claim_captures(limit=_BATCH_MAX, after_id=after)
            if not pending:
                return
            ours = [capture for capture in pending if self._ours(capture) and capture.id not in self._queued_ids]
            if ours:
                await self._process_batch(ours)
                self._remember_read_back(ours)
            after = pending[-1].id

    def _remember_read_back(self, captures: Sequence[Capture]) -> None:
        for capture in captures:
            self._read_back[capture.id] = None
        while len(self._read_back) > _REMEMBERED_MAX:
            del self._read_back[next(iter(self._read_back))]

    def _ours(self, capture: Capture) -> bool:
        """Whether this processor should process a pending capture now. A worker leaves a fetched document
        (poll, pull) to the server that fetched it: the server applies it right after capturing it and acts on
        the result (the scheduler reads the task's verdict). Only one left pending for `_FETCHED_GRACE_S` (its
        server died in between) is the worker's to process."""
        if self.poll_s is None or capture.origin in (Origin.CALLBACK, Origin.REPLAY):
            return True
        return (self.clock.now() - capture.received_at).total_seconds() > _FETCHED_GRACE_S

    async def _process_batch(self, captures: Sequence[Capture]) -> None:
        results = []
        for capture in captures:
            results.append(self.process(capture))
            await asyncio.sleep(0)  # let requests in between large payloads
        applied = await self.store.apply(results, self.route)
        self.processed += len(results)
        flat = [item for group in applied for item in group]
        for listener in self.listeners:
            await listener(flat)

    def confirm_grace_s(self, source: str) -> float:
        """How long the provider may lag behind a held callback of `source` (`SourceSettings.confirm_grace_s`)
        before an answer that its task is not finished refutes it; 0 for a source no longer configured."""
        settings = self.sources.get(source)
        return settings.confirm_grace_s if settings is not None else 0.0

    def process(self, capture: Capture, document: Any = None) -> Processed:
        """Decode (unless `document` is given) and normalize one capture; any failure to identify it
        becomes its quarantine error, and so does a dialect bug, visibly, rather than losing the capture.

        A callback of a source with `confirm` is processed holding (`Processed.hold`): the store keeps its
        terminal events back until the provider confirms them. Only callbacks: query answers and pulled events
        are the provider's own word, fetched by us, and a replay is the operator's own doing."""
        source = self.sources.get(capture.source)
        hold = capture.origin is Origin.CALLBACK and source is not None and source.confirm
        try:
            known = _known_dialect(capture, source)
            if document is None and known is not None:  # the bytes straight to events (the dialect's fast path)
                events = known.normalize_body(capture.body, _context(capture))
            else:
                if document is None:
                    dialect, document = dialects.detect(capture.body, capture.headers)
                else:
                    dialect = dialects.get(capture.dialect)
                events = dialect.normalize(document, _context(capture))
        except Unidentifiable as exc:
            return Processed(capture.id, error=str(exc))
        except Exception as exc:
            log.exception("normalizing capture %d raised", capture.id)
            return Processed(capture.id, error=f"internal error while normalizing: {type(exc).__name__}: {exc}")
        return Processed(capture.id, events=events, hold=hold, confirm_grace_s=self.confirm_grace_s(capture.source))

    # other ways in -------------------------------------------------------------------------------------

    async def ingest_document(
        self,
        source_name: str,
        document: Any,
        body: bytes,
        origin: Origin,
        *,
        api: str | None = None,
        task_id_hint: str | None = None,
        received_at: datetime | None = None,
    ) -> list[Applied]:
        """Capture and apply a document we fetched ourselves (poll, pull): same normalizer, same store."""
        dialect = dialects.get(self.sources[source_name].dialect)
        new = NewCapture(
            source=source_name,
            dialect=dialect.name,
            received_at=received_at or self.clock.now(),
            method="GET",
            path=f"/{api or 'query'}",
            query=urlencode({_HINT: task_id_hint}) if task_id_hint else "",
            headers={_API_HEADER: api or ""},
            body=body,
            remote=None,
            verification=Verdict.VERIFIED.value,
            origin=origin,
        )
        capture_id = await self.store.capture(new)
        result = self.process(Capture(**vars(new), id=capture_id), document)
        applied = (await self.store.apply([result], self.route))[0]
        for listener in self.listeners:
            await listener(applied)
        return applied

    async def reprocess(self, capture_ids: Sequence[int]) -> list[Processed]:
        """Re-run verification and normalization of stored captures (after an upgrade or a key fix).

        A refused capture is verified again with today's keys at the time it was received; one that now
        passes is processed like a fresh ingest.
        """
        results: list[Processed] = []
        for capture_id in capture_ids:
            capture = await self.store.get_capture(capture_id)
            if capture is None:
                continue
            source = self.sources.get(capture.source)
            if capture.refused and source is not None:
                dialect = _source_dialect(source, _raw(capture))
                if dialect and not dialect.verify(_raw(capture), source.signing_policy(), capture.received_at).accepted:
                    continue
            results.append(self.process(capture))
        if results:
            await self.store.apply(results, self.route)
        return results


#: Where a fetched document's capture keeps what its normalization needs again on a re-drive or reprocess.
_API_HEADER = "x-vodhook-api"
_HINT = "task_id"


def _context(capture: Capture) -> NormalizeContext:
    """What a capture tells the normalizer, including, for query answers, the API and the task asked for."""
    fetched = capture.origin is not Origin.CALLBACK
    return NormalizeContext(
        source=capture.source,
        origin=capture.origin,
        received_at=capture.received_at,
        capture_id=capture.id,
        task_id_hint=parse_qs(capture.query).get(_HINT, [None])[0] if fetched else None,
        api=(capture.headers.get(_API_HEADER) or None) if fetched else None,
    )


def _source_dialect(source: SourceSettings, raw: RawCallback) -> Dialect | None:
    """The dialect that verifies a request: the source's own, or for `auto` the one the body is in."""
    if source.dialect != dialects.AUTO:
        return dialects.get(source.dialect)
    try:
        dialect, _ = dialects.detect(raw.body, raw.headers)
    except Unidentifiable:
        return None
    return dialect


def _known_dialect(capture: Capture, source: SourceSettings | None) -> Dialect | None:
    """The dialect a capture is in when its source names one; None for `auto` (detected from the body)."""
    name = source.dialect if source else capture.dialect
    if name == dialects.AUTO or name not in dialects.registry():
        return None
    return dialects.get(name)


def _raw(capture: Capture) -> RawCallback:
    return RawCallback(
        source=capture.source,
        body=capture.body,
        headers=capture.headers,
        received_at=capture.received_at,
        remote=capture.remote,
        method=capture.method,
        path=capture.path,
        query=capture.query,
    )


__all__ = ["Event", "Pipeline", "Receipt"]

"""The processing worker: a child process of `vodhook serve` that turns pending captures into events.

Why a second process: one Python process has one GIL, and under load the request path (HTTP parsing,
verification, capture commits) and the processing (decoding, normalization, task-state merges, outbox rows)
fight over it; the processing then falls behind and the answers slow down. The worker takes the processing
to a second core. The server commits each capture pending and answers; then it hands the committed capture
to the worker through a pipe (`Worker.hand_over`), and the worker processes it exactly as the inline
processor does (`Pipeline`). The pipe only saves the worker reading the capture back from the store: the
store stays the hand-off that counts. The worker also reads back pending captures when it starts and every
`POLL_S`, so a crash of either process, or a hand-over the server had to skip, loses nothing: what is
pending stays pending until someone processes it.

The server is the supervisor: it starts the worker with its lifespan, restarts it if it dies (with a
pause, so a worker that cannot start does not spin), and stops it on shutdown. The worker tells the server
through a pipe when it has committed outbox rows, so forwarding starts at once instead of at the next
poll, and exits by itself when its parent is gone (a SIGKILLed server leaves no orphan behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from receiver.clock import SystemClock
from receiver.config import Settings
from receiver.model import Origin
from receiver.store.base import Capture

if TYPE_CHECKING:
    from receiver.ingest import Pipeline

log = logging.getLogger("vodhook.worker")

#: How long the worker lets captures gather after the first of a batch: each batch is one commit (an fsync),
#: and captures handed over one by one would otherwise come one or two to a commit.
GATHER_S = 0.004
#: How often an idle worker looks in the store for pending captures nobody handed it: the server's own
#: captures while no worker ran, fetched documents their server left (`Pipeline._ours`).
POLL_S = 0.5
#: Bytes of hand-overs the server lets wait for a busy worker; past it, it skips hand-overs (the captures
#: are committed and pending) and tells the worker to look in the store once it has caught up.
HAND_OVER_BUFFER_MAX = 4 * 1024 * 1024
#: Wait before restarting a worker that died, so one that cannot start does not spin.
RESTART_PAUSE_S = 1.0
#: How long a worker may take to finish its batch on shutdown before it is killed.
STOP_TIMEOUT_S = 15.0


class Worker:
    """The server's handle on its processing worker: start, watch, restart, stop."""

    def __init__(self, settings: Settings, on_outbox: Callable[[], None]) -> None:
        self.settings = settings
        self.on_outbox = on_outbox
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._process: multiprocessing.process.BaseProcess | None = None
        self._signals: Connection | None = None
        self._hand_overs: asyncio.WriteTransport | None = None
        self._skipped = False  # hand-overs were skipped: the worker must look in the store
        self._outgoing: list[bytes] = []  # frames to write at the end of this turn of the event loop
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    async def start(self) -> None:
        self._stopping = False
        await self._spawn()
        self._watch = asyncio.create_task(self._watch_over(), name="vodhook-worker-watch")

    async def _spawn(self) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        captures_out, captures_in = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker_main,
            args=(self.settings.model_dump(mode="json"), writer, os.getpid(), captures_out),
            name="vodhook-worker",
            daemon=True,
        )
        process.start()
        writer.close()  # the child holds the only write end: its exit closes the pipe
        captures_out.close()  # and the only read end of the hand-overs
        loop = asyncio.get_running_loop()
        loop.add_reader(reader.fileno(), self._on_signal, reader)
        self._process, self._signals = process, reader
        # Captures committed before the pipe was there were skipped (`hand_over`): the worker is told to look.
        self._hand_overs, _ = await loop.connect_write_pipe(asyncio.Protocol, captures_in)

    def hand_over(self, capture: Capture) -> None:
        """Pass a committed, accepted capture to the worker. Best effort and never blocking: with no worker, or
        one too far behind, the capture stays pending in the store, and the worker is told to look there."""
        transport = self._hand_overs
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() > HAND_OVER_BUFFER_MAX:
            self._skipped = True
            return
        if not self._outgoing:  # a group commit wakes many requests in one turn: one write for them all
            asyncio.get_running_loop().call_soon(self._flush)
        if self._skipped:
            self._outgoing.append(_RESCAN)
            self._skipped = False
        frame = pack_capture(capture)
        self._outgoing += (len(frame).to_bytes(4, "big"), frame)

    def _flush(self) -> None:
        frames, self._outgoing = self._outgoing, []
        transport = self._hand_overs
        if transport is None or transport.is_closing():  # the worker died meanwhile: they are in the store
            self._skipped = True
            return
        transport.write(b"".join(frames))

    def _on_signal(self, reader: Connection) -> None:
        """The worker committed outbox rows (or exited: EOF); wake the dispatchers either way."""
        try:
            while reader.poll():
                reader.recv_bytes()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(reader.fileno())
        self.on_outbox()

    async def _watch_over(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.2)
            process = self._process
            if process is None or process.is_alive() or self._stopping:
                continue
            log.error("the processing worker exited with code %s; restarting it", process.exitcode)
            self._close_signals()
            await asyncio.sleep(RESTART_PAUSE_S)
            if not self._stopping:
                self.restarts += 1
                await self._spawn()

    async def stop(self) -> None:
        """Ask the worker to finish its batch and exit; kill it if it does not in time."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        process, self._process = self._process, None
        if process is not None and process.is_alive():
            process.terminate()  # SIGTERM: the worker stops after its current batch
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
            if process.is_alive():
                log.error("the processing worker did not stop in %.0f s; killing it", STOP_TIMEOUT_S)
                process.kill()
                await asyncio.to_thread(process.join)
        self._close_signals()

    def _close_signals(self) -> None:
        transport, self._hand_overs = self._hand_overs, None
        if transport is not None and not transport.is_closing():  # a dead worker's end closes it by itself
            transport.abort()
        reader, self._signals = self._signals, None
        if reader is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(reader.fileno())
            reader.close()


# the hand-over pipe ------------------------------------------------------------------------------------
# Frames of a 4-byte big-endian length and a pickled tuple of the capture's fields (a tuple: pickling the
# dataclass itself costs several times more, and so does an aware datetime, hence microseconds since the
# epoch); an empty frame asks the worker to look in the store.

_RESCAN = (0).to_bytes(4, "big")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def pack_capture(capture: Capture) -> bytes:
    fields = (
        capture.id,
        capture.source,
        capture.dialect,
        (capture.received_at - _EPOCH) // _MICROSECOND,
        capture.method,
        capture.path,
        capture.query,
        capture.headers,
        capture.body,
        capture.remote,
        capture.verification,
        capture.verification_reason,
        capture.origin.value,
    )
    return pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_capture(frame: bytes) -> Capture:
    """The capture `pack_capture` packed. Only the server that spawned this worker writes to the pipe."""
    (capture_id, source, dialect, received_us, method, path, query, headers, body, remote, verification,
     reason, origin) = pickle.loads(frame)  # fmt: skip
    return Capture(
        id=capture_id,
        source=source,
        dialect=dialect,
        received_at=_EPOCH + received_us * _MICROSECOND,
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        remote=remote,
        verification=verification,
        verification_reason=reason,
        origin=Origin(origin),
    )


class HandOvers(asyncio.Protocol):
    """The worker's end of the hand-over pipe: offers each capture to its pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        buffer, offset = self._buffer, 0
        while len(buffer) - offset >= 4:
            size = int.from_bytes(buffer[offset : offset + 4], "big")
            end = offset + 4 + size
            if end > len(buffer):
                break
            if size == 0:
                self.pipeline.rescan()
            else:
                self.pipeline.offer(unpack_capture(bytes(buffer[offset + 4 : end])))
            offset = end
        del buffer[:offset]


# the child process -------------------------------------------------------------------------------------


def worker_main(settings_json: dict[str, Any], signals: Connection, parent_pid: int, captures: Connection) -> None:
    """The worker process's entry point (spawned: it imports everything afresh)."""
    settings = Settings.model_validate(settings_json)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_work(settings, signals, parent_pid, captures))


async def _work(settings: Settings, signals: Connection, parent_pid: int, captures: Connection) -> None:
    from receiver.app import open_store
    from receiver.fallback.tracking import Tracker
    from receiver.ingest import Pipeline
    from receiver.outbox import build_router
    from receiver.store.base import Applied

    clock = SystemClock(timedelta(seconds=settings.clock_offset_s))
    store = open_store(settings, clock, derived_writes=True)  # all it writes, it can derive again
    await store.open()
    route = build_router(settings.sinks) if settings.sinks else None
    pipeline = Pipeline(store, settings.sources, clock, route=route, poll_s=POLL_S)
    pipeline.gather_s = GATHER_S

    async def tell_server(applied: Sequence[Applied]) -> None:
        if applied and route is not None:
            with contextlib.suppress(OSError):
                signals.send_bytes(b"o")

    pipeline.listeners.append(Tracker(store, settings.fallback, clock).on_applied)
    pipeline.listeners.append(tell_server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await pipeline.start()
    await loop.connect_read_pipe(lambda: HandOvers(pipeline), captures)
    try:
        while not stop.is_set() and os.getppid() == parent_pid:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await pipeline.stop()
        await store.close()
        signals.close()

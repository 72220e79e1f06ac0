"""The processing worker: a child process of `vodhook serve` that turns pending captures into events.

Why a second process: one Python process has one GIL, and under load the request path (HTTP parsing,
verification, capture commits) and the processing (decoding, normalization, task-state merges, outbox rows)
fight over it; the processing then falls behind and the answers slow down. The worker takes the processing
to a second core. The capture is the only hand-off: the server commits each capture pending and answers;
the worker reads pending captures from the same store and processes them exactly as the inline processor
does (`Pipeline`, reading back pending captures every `poll_s`), so a crash of either process loses
nothing: what is pending stays pending until someone processes it.

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
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from receiver.clock import SystemClock
from receiver.config import Settings

log = logging.getLogger("vodhook.worker")

#: How often the worker looks for new pending captures when it has found none.
POLL_S = 0.005
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
        self._spawn()
        self._watch = asyncio.create_task(self._watch_over(), name="vodhook-worker-watch")

    def _spawn(self) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker_main,
            args=(self.settings.model_dump(mode="json"), writer, os.getpid()),
            name="vodhook-worker",
            daemon=True,
        )
        process.start()
        writer.close()  # the child holds the only write end: its exit closes the pipe
        loop = asyncio.get_running_loop()
        loop.add_reader(reader.fileno(), self._on_signal, reader)
        self._process, self._signals = process, reader

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
                self._spawn()

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
        reader, self._signals = self._signals, None
        if reader is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(reader.fileno())
            reader.close()


# the child process -------------------------------------------------------------------------------------


def worker_main(settings_json: dict[str, Any], signals: Connection, parent_pid: int) -> None:
    """The worker process's entry point (spawned: it imports everything afresh)."""
    settings = Settings.model_validate(settings_json)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_work(settings, signals, parent_pid))


async def _work(settings: Settings, signals: Connection, parent_pid: int) -> None:
    from datetime import timedelta

    from receiver.app import open_store
    from receiver.fallback.tracking import Tracker
    from receiver.ingest import Pipeline
    from receiver.outbox import build_router
    from receiver.store.base import Applied

    clock = SystemClock(timedelta(seconds=settings.clock_offset_s))
    store = open_store(settings, clock)
    await store.open()
    route = build_router(settings.sinks) if settings.sinks else None
    pipeline = Pipeline(store, settings.sources, clock, route=route, poll_s=POLL_S)

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
    try:
        while not stop.is_set() and os.getppid() == parent_pid:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await pipeline.stop()
        await store.close()
        signals.close()

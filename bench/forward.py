"""Forwarding benchmark: how fast each sink drains the outbox, against how fast vodhook ingests.

For each sink (JSON Lines, HTTP webhook, Redis Streams, NATS JetStream, RabbitMQ, MQTT), `vodhook serve` runs as
its own process with that one sink, behind a TCP proxy of this script's own (the shared brokers are never
touched), and gets the ingest benchmark's load (`bench._load`, unique legacy VOD callbacks, one task each).

- **forwarding ratio**: events delivered per second, from the start of the load until the outbox is empty,
  over the events ingested per second (acked and processed, backlog drained) by a vodhook with no sink,
  measured in the same run: 1.0 means forwarding keeps up with ingest.
- **backlog drain**: the proxy is cut (for JSON Lines: its folder turns into a file), 10,000 new events are
  ingested into the outbox, the sink comes back, and the time until the outbox is empty gives the drain
  rate, also shown as a ratio of the ingest rate.

`python -m bench.forward [--seconds 6] [--connections 32] [--backlog 10000] [--sinks jsonl,http,...]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.ingest import bodies as ingest_bodies
from bench.ingest import free_port, load, start

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
SINKS = ("jsonl", "http", "redis", "nats", "rabbitmq", "mqtt")
BROKERS = {"redis": 6379, "nats": 4222, "rabbitmq": 5672, "mqtt": 1883}


def unique_bodies(count: int, tag: str) -> list[str]:
    """Callbacks that no earlier batch of this run repeats (a repeat is a duplicate: stored, not forwarded)."""
    return [body.replace("-bench", f"-{tag}") for body in ingest_bodies(count)]


# a TCP proxy to cut, in a thread of this process ----------------------------------------------------------


class Proxy:
    def __init__(self, port: int) -> None:
        self.target = port
        self.cut = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self.call(asyncio.start_server(self.accept, "127.0.0.1", 0))
        self.port: int = self.server.sockets[0].getsockname()[1]

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)

    def set_cut(self, cut: bool) -> None:
        async def apply() -> None:
            self.cut = cut
            if cut:
                for writer in list(self.writers):
                    writer.close()
                self.writers.clear()

        self.call(apply())

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        self.set_cut(True)
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# one sink under test ---------------------------------------------------------------------------------------


@dataclass
class Target:
    """A sink's settings, how to cut and restore it, and how to clean up after it."""

    settings: dict[str, Any]
    cut: Callable[[bool], None]
    cleanup: Callable[[], None]


@contextlib.contextmanager
def target(kind: str, workdir: Path) -> Iterator[Target]:
    token = uuid.uuid4().hex[:12]
    if kind == "jsonl":
        folder = workdir / "jsonl-out"

        def cut_folder(cut: bool) -> None:
            if cut:
                folder.rename(folder.with_name("jsonl-away"))
                folder.write_text("in the way")
            else:
                folder.unlink()
                folder.with_name("jsonl-away").rename(folder)

        folder.mkdir()
        yield Target({"type": "jsonl", "path": str(folder / "events.jsonl")}, cut_folder, lambda: None)
        return
    if kind == "http":
        port = free_port()
        url = f"http://127.0.0.1:{port}/callbacks/hook"
        server = start([sys.executable, "-m", "bench._servers", "bare", str(port), str(workdir)], url)
        proxy = Proxy(port)
        try:
            settings = {"type": "http", "url": f"http://127.0.0.1:{proxy.port}/callbacks/hook", "concurrency": 32}
            yield Target(settings, proxy.set_cut, lambda: None)
        finally:
            proxy.close()
            server.terminate()
            server.wait()
        return
    proxy = Proxy(BROKERS[kind])
    try:
        if kind == "redis":
            stream = f"vodhook-bench-{token}"
            settings = {"type": "redis", "url": f"redis://127.0.0.1:{proxy.port}/0", "stream": stream}
            yield Target(settings, proxy.set_cut, lambda: _redis_cleanup(stream))
        elif kind == "nats":
            stream = f"VODHOOK_BENCH_{token}"
            settings = {
                "type": "nats",
                "url": f"nats://127.0.0.1:{proxy.port}",
                "stream": stream,
                "subject": f"vodhook.bench.{token}",
            }
            yield Target(settings, proxy.set_cut, lambda: asyncio.run(_nats_cleanup(stream)))
        elif kind == "mqtt":
            # no subscriber: Mosquitto acknowledges and drops, and keeps nothing to clean up (retain is off)
            topic = f"vodhook-bench/{token}/{{task_id}}"
            settings = {"type": "mqtt", "url": f"mqtt://127.0.0.1:{proxy.port}", "topic": topic}
            yield Target(settings, proxy.set_cut, lambda: None)
        else:
            name = f"vodhook-bench-{token}"
            settings = {
                "type": "rabbitmq",
                "url": f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
                "exchange": name,
                "queue": name,
            }
            yield Target(settings, proxy.set_cut, lambda: asyncio.run(_rabbit_cleanup(name)))
    finally:
        proxy.close()


def _redis_cleanup(stream: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    client.delete(stream)
    client.close()


async def _nats_cleanup(stream: str) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    with contextlib.suppress(Exception):
        await nc.jetstream().delete_stream(stream)
    await nc.close()


async def _rabbit_cleanup(name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.exchange_delete(name)


# a vodhook process -----------------------------------------------------------------------------------------


class Vodhook:
    def __init__(self, workdir: Path, sink: dict[str, Any] | None) -> None:
        self.data_dir = workdir / f"data-{uuid.uuid4().hex[:8]}"
        lines = [f'data_dir = "{self.data_dir}"', 'log_level = "warning"']
        if sink is not None:
            lines.append('[sinks."bench"]')
            fast = {"backoff_base_s": 0.1, "backoff_max_s": 1.0, "poll_s": 0.2}
            lines += [f"{key} = {json.dumps(value)}" for key, value in {**sink, **fast}.items()]
        config = workdir / f"{self.data_dir.name}.toml"
        config.write_text("\n".join(lines) + "\n")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/callbacks/tencent-vod-v2"
        command = [sys.executable, "-m", "receiver", "--config", str(config), "serve", "--port", str(port)]
        self.process = start(command, self.url)
        self.db = self.data_dir / "vodhook.sqlite3"

    def counts(self) -> dict[str, int]:
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as conn:
            found = {
                "captures_pending": conn.execute("SELECT count(*) FROM captures WHERE state = 'pending'").fetchone()[0]
            }
            for state, count in conn.execute("SELECT state, count(*) FROM outbox GROUP BY state"):
                found[f"outbox_{state}"] = count
            return found

    def wait(self, done: Callable[[dict[str, int]], bool], limit_s: float = 600.0) -> float:
        deadline = time.perf_counter() + limit_s
        while not done(self.counts()):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"gave up waiting: {self.counts()}")
            time.sleep(0.02)
        return time.perf_counter()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def post_all(url: str, payloads: list[str], connections: int = 16) -> None:
    async def run() -> None:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for body in payloads:
            queue.put_nowait(body)
        async with httpx.AsyncClient(timeout=60) as client:

            async def worker() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    for attempt in range(5):  # a keep-alive connection closed under us: send again (deduped)
                        try:
                            response = await client.post(url, content=body)
                            break
                        except httpx.TransportError:
                            if attempt == 4:
                                raise
                            await asyncio.sleep(0.1)
                    response.raise_for_status()

            await asyncio.gather(*(worker() for _ in range(connections)))

    asyncio.run(run())


# the runs --------------------------------------------------------------------------------------------------


def ingest_rate(workdir: Path, seconds: float, connections: int, payloads: list[str]) -> float:
    vodhook = Vodhook(workdir, None)
    try:
        measured = load(vodhook.url, seconds, connections, payloads)
        load_ended = time.perf_counter()
        ended = vodhook.wait(lambda c: c["captures_pending"] == 0)
        with contextlib.closing(sqlite3.connect(vodhook.db)) as conn:
            events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return float(events) / (measured["elapsed"] + ended - load_ended)
    finally:
        vodhook.stop()


def forward_run(kind: str, workdir: Path, seconds: float, connections: int, backlog: int) -> dict[str, float]:
    with target(kind, workdir) as sink:
        vodhook = Vodhook(workdir, sink.settings)
        try:
            payloads = unique_bodies(40_000, f"{kind}a")
            acked = load(vodhook.url, seconds, connections, payloads)
            load_ended = time.perf_counter()  # the load's own clock covers its run; ours covers what follows
            vodhook.wait(lambda c: c["captures_pending"] == 0)
            ended = vodhook.wait(lambda c: c.get("outbox_pending", 0) == 0)
            forwarded = vodhook.counts().get("outbox_delivered", 0)
            spent = acked["elapsed"] + ended - load_ended
            result = {"acked_rate": acked["rate"], "forward_rate": forwarded / spent}

            sink.cut(True)
            try:
                before = vodhook.counts().get("outbox_delivered", 0)
                post_all(vodhook.url, unique_bodies(backlog, f"{kind}b"))
                vodhook.wait(lambda c: c["captures_pending"] == 0 and c.get("outbox_pending", 0) >= backlog)
            finally:
                sink.cut(False)
            restored = time.perf_counter()
            ended = vodhook.wait(lambda c: c.get("outbox_pending", 0) == 0)
            drained = vodhook.counts().get("outbox_delivered", 0) - before
            result["backlog"] = drained
            result["drain_s"] = ended - restored
            result["drain_rate"] = drained / (ended - restored)
            result["dead"] = vodhook.counts().get("outbox_dead", 0)
            with contextlib.closing(sqlite3.connect(vodhook.db)) as conn:
                result["retried"] = conn.execute("SELECT count(*) FROM outbox WHERE attempts > 1").fetchone()[0]
                # why: a retry count alone cannot tell a slow endpoint (timeouts) from an outage's edge
                for count, error in conn.execute(
                    "SELECT count(*), substr(coalesce(last_error, '?'), 1, 120) AS why FROM outbox"
                    " WHERE attempts > 1 GROUP BY why ORDER BY count(*) DESC LIMIT 3"
                ):
                    print(f"  ({kind}: {count} retried after {error!r})", flush=True)
            return result
        finally:
            vodhook.stop()
            sink.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--sinks", default=",".join(SINKS))
    args = parser.parse_args()
    kinds = [kind for kind in args.sinks.split(",") if kind]
    if unknown := [kind for kind in kinds if kind not in SINKS]:
        parser.error(f"--sinks: unknown sink {unknown[0]!r} (one of {', '.join(SINKS)})")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        baseline = ingest_rate(workdir, args.seconds, args.connections, unique_bodies(40_000, "base"))
        print(f"forwarding benchmark: {args.seconds:.0f} s of load, {args.connections} connections, one sink at a time")
        print(f"ingest with no sink (acked, processed, backlog drained): {baseline:.0f} events/s")
        header = ("sink", "fwd/s", "fwd/ingest", "backlog", "drain s", "drain/s", "drain/ingest", "dead", "retried")
        print("{:<10}{:>9}{:>12}{:>9}{:>9}{:>9}{:>14}{:>6}{:>9}".format(*header))
        for kind in kinds:
            r = forward_run(kind, workdir, args.seconds, args.connections, args.backlog)
            print(
                f"{kind:<10}{r['forward_rate']:>9.0f}{r['forward_rate'] / baseline:>12.2f}{r['backlog']:>9.0f}"
                f"{r['drain_s']:>9.1f}{r['drain_rate']:>9.0f}{r['drain_rate'] / baseline:>14.2f}{r['dead']:>6.0f}"
                f"{r['retried']:>9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    os.environ.setdefault("VODHOOK_LOG_LEVEL", "warning")
    main()

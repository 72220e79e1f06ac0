"""Replay benchmark: how fast `vodhook replay` refills a receiver, against how fast the same receiver ingests.

Two `vodhook serve` processes. The first ingests N legacy VOD callbacks sent by C concurrent senders; the
second gets the first one's captures replayed from its store (`receiver.replay`, concurrency C). Each rate is
sustained: callbacks sent until the receiver has processed all of them (no pending captures left). The figure
is replay / ingest (1.0: replay is as fast as live ingest; the replayer also reads the captures back from
SQLite). `python -m bench.replay [--count 2000] [--concurrency 16]`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.ingest import bodies, free_port, pending, start
from receiver.replay import ReplayOptions, Selection, replay, select_captures
from receiver.store.base import Capture
from receiver.store.sqlite import SqliteStore


async def ingest(url: str, payloads: list[str], concurrency: int) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            response = await client.post(url, content=queue.get_nowait().encode())
            response.raise_for_status()

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))


def wait_processed(db: Path) -> None:
    while pending(db):
        time.sleep(0.02)


async def stored_captures(db: Path) -> list[Capture]:
    store = SqliteStore(db)
    await store.open()
    try:
        return [c async for c in select_captures(store, Selection(source="tencent-vod-v2")) if c.body != b"{}"]
    finally:
        await store.close()


def serve(data_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "receiver", "--data-dir", str(data_dir), "serve", "--port", str(port)]
    return base, start(command, f"{base}/callbacks/tencent-vod-v2", env={"VODHOOK_LOG_LEVEL": "warning"})


def run(count: int, concurrency: int) -> None:
    payloads = bodies(count)
    with tempfile.TemporaryDirectory() as tmp:
        first_dir, second_dir = Path(tmp) / "first", Path(tmp) / "second"
        first, first_process = serve(first_dir)
        second, second_process = serve(second_dir)
        try:
            began = time.perf_counter()
            asyncio.run(ingest(f"{first}/callbacks/tencent-vod-v2", payloads, concurrency))
            wait_processed(first_dir / "vodhook.sqlite3")
            ingest_rate = count / (time.perf_counter() - began)

            began = time.perf_counter()
            captures = asyncio.run(stored_captures(first_dir / "vodhook.sqlite3"))
            summary = asyncio.run(replay(captures, ReplayOptions(to=second, concurrency=concurrency)))
            wait_processed(second_dir / "vodhook.sqlite3")
            replay_rate = summary.sent / (time.perf_counter() - began)
        finally:
            for process in (first_process, second_process):
                process.terminate()
                process.wait()
    assert summary.accepted == count, summary.as_dict()
    print(f"callbacks: {count}, concurrency: {concurrency}")
    print(f"ingest: {ingest_rate:,.0f}/s sustained; replay (read back + send + process): {replay_rate:,.0f}/s")
    print(f"replay / ingest = {replay_rate / ingest_rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    arguments = parser.parse_args()
    run(arguments.count, arguments.concurrency)

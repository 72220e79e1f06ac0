"""A short PostgreSQL outage: callbacks answer 503 (providers retry), readiness says so, then all recovers.

The database stays up for everyone else: the receiver reaches it through a TCP proxy that the test cuts
(every open connection dropped, new ones refused) and restores.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.config import load_settings
from receiver.store.postgres import PostgresStore
from tests.conftest import serve_in_thread
from tests.store.conftest import pg_schema


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL until cut; runs its own event loop in a thread."""

    def __init__(self, upstream_port: int = 5432) -> None:
        self.upstream_port = upstream_port
        self.up = True
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the proxy did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()
                self._writers.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def _cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self._cut)
        time.sleep(0.2)  # let the aborts land before the test goes on

    def restore(self) -> None:
        self.up = True

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._cut)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def proxy() -> Iterator[CuttableProxy]:
    running = CuttableProxy()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def callback(task: str) -> bytes:
    body = {
        "version": "4.0",
        "eventType": "ProcedureStateChanged",
        "data": {
            "vodTaskId": task,
            "status": "FINISH",
            "errCode": 0,
            "fileId": "528589",
            "processTaskList": [],
        },
    }
    return json.dumps(body).encode()


def test_a_lost_database_answers_503_and_recovers(tmp_path: Path, proxy: CuttableProxy) -> None:
    with pg_schema() as url:
        through_proxy = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        settings = load_settings(data_dir=tmp_path / "data", store=through_proxy)
        receiver = serve_in_thread(settings)
        try:
            with receiver.client() as client:
                assert client.get("/readyz").status_code == 200
                assert client.post("/callbacks/tencent-vod-v2", content=callback("before")).status_code == 200

                proxy.cut()
                during = client.post("/callbacks/tencent-vod-v2", content=callback("during"))
                assert during.status_code == 503, during.text
                assert client.get("/readyz").status_code == 503

                proxy.restore()
                deadline = time.monotonic() + 60
                while True:  # the pool reconnects on its own; the provider's retry then goes through
                    after = client.post("/callbacks/tencent-vod-v2", content=callback("during"))
                    if after.status_code == 200 or time.monotonic() > deadline:
                        break
                    assert after.status_code == 503
                    time.sleep(0.5)
                assert after.status_code == 200
                assert client.get("/readyz").status_code == 200
            receiver.drain()
        finally:
            receiver.stop()
        counts = asyncio.run(read_counts(url))
        assert counts["events"] == 2  # "before" and the retried "during": nothing lost, nothing doubled
        assert counts["captures_pending"] == 0


async def read_counts(url: str) -> dict[str, int]:
    store = PostgresStore(url)
    await store.open()
    try:
        return await store.counts()
    finally:
        await store.close()

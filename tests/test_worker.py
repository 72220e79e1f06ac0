"""The processing worker process: captures committed by the server are processed in a child process, which the
server restarts when it dies and which never outlives the server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from receiver.clock import SystemClock
from receiver.config import load_settings
from receiver.ingest import Pipeline
from receiver.model import Origin
from receiver.store.base import NewCapture
from receiver.store.sqlite import SqliteStore
from tests.conftest import RunningReceiver, serve_in_thread
from tests.sinks.helpers import wait_until
from tests.test_crash_recovery import vodhook_process
from tests.test_receiver_http import TASK, procedure, transcode_subtask


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")  # a zombie is gone


@pytest.fixture
def worker_receiver(tmp_path: Path) -> Iterator[RunningReceiver]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        processing="worker",
        sinks={"file": {"type": "jsonl", "path": str(tmp_path / "out.jsonl"), "poll_s": 30.0}},
    )
    running = serve_in_thread(settings)
    try:
        yield running
    finally:
        running.stop()


def task_of(receiver: RunningReceiver, task_id: str = TASK) -> httpx.Response:
    with receiver.client() as client:
        return client.get(f"/api/tasks/tencent-vod/{task_id}")


def test_the_worker_process_normalizes_tracks_and_forwards(worker_receiver: RunningReceiver, tmp_path: Path) -> None:
    worker = worker_receiver.app.state.worker
    assert worker is not None and worker.alive
    assert worker_receiver.app.state.pipeline.external
    with worker_receiver.client() as client:
        for status in ("PROCESSING", "FINISH"):
            answer = client.post(
                "/callbacks/tencent-vod-v2", content=procedure(status, [transcode_subtask(20, "SUCCESS")])
            )
            assert answer.status_code == 200
    worker_receiver.drain()  # with a worker: until the store holds no pending capture
    found = task_of(worker_receiver)
    assert found.status_code == 200
    task = found.json()["task"]
    assert (task["status"], task["outcome"], task["version"]) == ("finished", "success", 2)

    # The sink polls only every 30 s: a prompt message shows the worker woke the server's dispatcher.
    def forwarded() -> list[dict[str, object]]:
        out = tmp_path / "out.jsonl"
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    wait_until(lambda: len(forwarded()) == 2, "two forwarded messages", timeout=20.0)
    assert [message["version"] for message in forwarded()] == [1, 2]


def test_a_worker_that_dies_is_restarted_and_loses_nothing(worker_receiver: RunningReceiver) -> None:
    worker = worker_receiver.app.state.worker
    first = worker.pid
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: worker.restarts == 1 and worker.alive, "a restarted worker", timeout=60.0)
    assert worker.pid != first
    with worker_receiver.client() as client:
        assert client.post("/callbacks/tencent-vod-v2", content=procedure("FINISH")).status_code == 200
    worker_receiver.drain()
    assert task_of(worker_receiver).json()["task"]["status"] == "finished"


def test_stopping_the_server_stops_its_worker(tmp_path: Path) -> None:
    running = serve_in_thread(load_settings(data_dir=tmp_path / "data", processing="worker"))
    pid = running.app.state.worker.pid
    assert alive(pid)
    running.stop()
    wait_until(lambda: not alive(pid), "the worker to exit with the server", timeout=30.0)


def test_a_sigkilled_server_leaves_no_worker_behind(tmp_path: Path) -> None:
    """`vodhook serve` (a worker by default with SQLite) is killed: its worker notices and exits."""
    with vodhook_process(tmp_path / "data") as url:
        answer = httpx.post(f"{url}/callbacks/tencent-vod-v2", content=procedure("FINISH"), timeout=10)
        assert answer.status_code == 200
        health = httpx.get(f"{url}/readyz", timeout=10).json()
        worker_pid = health["worker_pid"]
        assert alive(worker_pid)
    wait_until(lambda: not alive(worker_pid), "the orphaned worker to exit", timeout=30.0)


@pytest.mark.anyio
async def test_a_worker_leaves_a_fresh_fetched_capture_to_the_server_that_fetched_it(tmp_path: Path) -> None:
    """A poll answer is captured and applied by the server that fetched it (the scheduler acts on the result);
    a worker that processed it too would race it. Only one left pending past the grace (its server died) is
    the worker's."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    clock = SystemClock()
    settings = load_settings(data_dir=tmp_path)
    worker_side = Pipeline(store, settings.sources, clock, poll_s=0.01)

    def capture(origin: Origin, age_s: float, body: bytes) -> NewCapture:
        return NewCapture(
            source="tencent-vod-v2",
            dialect="tencent-vod-v2",
            received_at=clock.now() - timedelta(seconds=age_s),
            method="POST",
            path="/",
            query="",
            headers={},
            body=body,
            remote=None,
            verification="verified",
            origin=origin,
        )

    try:
        fresh_poll = await store.capture(capture(Origin.POLL, 0.0, procedure("PROCESSING")))
        callback = await store.capture(capture(Origin.CALLBACK, 0.0, procedure("PROCESSING")))
        stale_poll = await store.capture(capture(Origin.POLL, 120.0, procedure("FINISH")))
        await worker_side.start()
        for _ in range(500):  # until only one capture is left pending (or 10 s)
            if len(await store.pending_captures(limit=10)) <= 1:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a few more polls: the fresh poll answer must still be left alone
        await worker_side.stop()
        states = {
            capture_id: (await store.get_capture(capture_id)) for capture_id in (fresh_poll, callback, stale_poll)
        }
        assert {capture_id: found.state.value for capture_id, found in states.items() if found} == {
            fresh_poll: "pending",
            callback: "processed",
            stale_poll: "processed",
        }
    finally:
        await store.close()

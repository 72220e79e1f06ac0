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
from receiver.store.base import Capture, CaptureState, NewCapture
from receiver.store.sqlite import SqliteStore
from receiver.worker import HandOvers, pack_capture
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


def test_a_worker_restarted_while_callbacks_arrive_processes_those_it_was_not_handed(
    worker_receiver: RunningReceiver,
) -> None:
    """Callbacks committed while no worker runs cannot be handed over: they stay pending and the new worker
    reads them back from the store."""
    worker = worker_receiver.app.state.worker
    os.kill(worker.pid, signal.SIGKILL)
    wait_until(lambda: not worker.alive, "the worker to die")
    with worker_receiver.client() as client:
        for index in range(5):
            body = procedure("FINISH").replace(TASK.encode(), f"{TASK}-{index}".encode())
            assert client.post("/callbacks/tencent-vod-v2", content=body).status_code == 200
    wait_until(lambda: worker.restarts == 1 and worker.alive, "a restarted worker", timeout=60.0)
    worker_receiver.drain()
    for index in range(5):
        assert task_of(worker_receiver, f"{TASK}-{index}").json()["task"]["status"] == "finished"


def callback_capture(clock: SystemClock, task_id: str) -> NewCapture:
    body = procedure("FINISH").replace(TASK.encode(), task_id.encode())
    return NewCapture(
        source="tencent-vod-v2",
        dialect="tencent-vod-v2",
        received_at=clock.now(),
        method="POST",
        path="/callbacks/tencent-vod-v2",
        query="a=1",
        headers={"content-type": "application/json"},
        body=body,
        remote="10.0.0.1",
        verification="unsigned",
        verification_reason="no key",
    )


@pytest.mark.anyio
async def test_hand_overs_arrive_whole_in_any_chunking_and_each_capture_is_processed_once(tmp_path: Path) -> None:
    """The worker's end of the pipe reassembles frames split anywhere; a capture both read back from the store
    (the worker's first pass) and handed over is processed once."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    await store.open()
    clock = SystemClock()
    pipeline = Pipeline(store, load_settings(data_dir=tmp_path).sources, clock, poll_s=0.01)
    try:
        news = [callback_capture(clock, f"{TASK}-{index}") for index in range(6)]
        ids = [await store.capture(new) for new in news]
        captures = [Capture(**vars(new), id=capture_id) for new, capture_id in zip(news, ids, strict=True)]
        stream = b"".join(len(frame).to_bytes(4, "big") + frame for frame in map(pack_capture, captures))
        stream += (0).to_bytes(4, "big")  # "look in the store"
        await pipeline.start()
        await pipeline.drain(timeout=10)  # the first pass read all six back
        assert pipeline.processed == 6
        protocol = HandOvers(pipeline)
        for start in range(0, len(stream), 7):  # then the same six arrive through the pipe, 7 bytes at a time
            protocol.data_received(stream[start : start + 7])
        await pipeline.drain(timeout=10)
        assert pipeline.processed == 6

        late = callback_capture(clock, f"{TASK}-late")
        late_capture = Capture(**vars(late), id=await store.capture(late))
        frame = pack_capture(late_capture)
        protocol.data_received(len(frame).to_bytes(4, "big") + frame[:10])
        protocol.data_received(frame[10:])
        await pipeline.drain(timeout=10)
        assert pipeline.processed == 7
        stored = await store.get_capture(late_capture.id)
        assert stored is not None and stored.state is CaptureState.PROCESSED
        assert (stored.query, stored.headers, stored.remote, stored.verification_reason) == (
            "a=1",
            {"content-type": "application/json"},
            "10.0.0.1",
            "no key",
        )
    finally:
        await pipeline.stop()
        await store.close()

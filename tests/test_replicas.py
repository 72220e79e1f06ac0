"""Several `vodhook serve` processes on one PostgreSQL database, as behind a load balancer.

Three replicas get the same callbacks at once (and some twice): each callback becomes one event, each
outbox message reaches each sink once (a JSON Lines file per replica, and one HTTP endpoint they share),
and the fallback scheduler's lease has one holder, which moves to a survivor when its holder is SIGKILLed.
A fourth, capture-only replica takes callbacks and dies without processing them: the others take its
captures over once its claim runs out.

The replicas are real `vodhook serve` processes; the runner only shortens three timings (the scheduler's
lease, the capture claim and the takeover tick) so the test need not wait half a minute for each.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.store.base import CaptureFilter, CaptureState, OutboxFilter
from receiver.store.postgres import PostgresStore
from tests.conftest import free_port
from tests.store.conftest import pg_schema

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parent.parent
SCHEDULER_LEASE = "fallback-scheduler"

#: `vodhook serve`, with the scheduler lease, the capture claim and the takeover tick shortened.
RUNNER = """
import os, sys
import receiver.fallback.scheduler as scheduler
import receiver.ingest as ingest
import receiver.store.postgres as postgres
scheduler.LEASE_TTL_S = 3.0
ingest._TAKEOVER_EVERY_S = 0.5
postgres.CAPTURE_LEASE_S = float(os.environ["TEST_CAPTURE_LEASE_S"])
from receiver.cli import main
main(prog_name="vodhook")
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# a webhook endpoint the replicas forward to --------------------------------------------------------------


class Collector:
    """Records every delivery an HTTP sink makes: (delivery id, event id)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        await request.body()
        self.received.append((request.headers["vodhook-delivery-id"], request.headers["webhook-id"]))
        return Response(status_code=204)


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    running = Collector()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(running.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the collector did not start"
        time.sleep(0.01)
    try:
        yield running, f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        thread.join(10)


# replicas --------------------------------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def write_config(path: Path, store_url: str, hook_url: str) -> None:
    path.write_text(
        f"""
store = "{store_url}"
log_level = "warning"

[sources.vod]
dialect = "tencent-vod-v2"

[sinks.out]
type = "jsonl"
poll_s = 0.2

[sinks.hook]
type = "http"
url = "{hook_url}"
poll_s = 0.2

[fallback]
enabled = true
tick_s = 0.2

[fallback.sources.vod]
secret_id = "AKIDreplicatest"
secret_key = "replica-test-secret"
endpoint = "http://127.0.0.1:9/"  # nothing is overdue in this test: no query is ever made
sweep = false
""",
        encoding="utf-8",
    )


def start_replica(name: str, config: Path, root: Path, *, process: bool = True, lease_s: float = 2.0) -> Replica:
    port = free_port()
    data_dir = root / name
    data_dir.mkdir(parents=True)
    log = root / f"{name}.log"
    env = {**os.environ, "TEST_CAPTURE_LEASE_S": str(lease_s)}
    env = {key: value for key, value in env.items() if not key.startswith("VODHOOK_")}
    if not process:
        env["VODHOOK_PROCESS"] = "false"
    command = [sys.executable, "-c", RUNNER, "--config", str(config), "--data-dir", str(data_dir)]
    with log.open("wb") as out:
        child = subprocess.Popen([*command, "serve", "--port", str(port)], cwd=REPO, env=env, stdout=out, stderr=out)
    return Replica(name, child, f"http://127.0.0.1:{port}", data_dir, log)


def wait_ready(replicas: list[Replica]) -> None:
    deadline = time.monotonic() + 90
    for replica in replicas:
        while True:
            assert replica.alive(), f"{replica.name} exited:\n{replica.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{replica.name} never became ready:\n{replica.log.read_text()[-3000:]}"
            time.sleep(0.1)


@pytest.fixture
def cluster(tmp_path: Path, collector: tuple[Collector, str]) -> Iterator[tuple[str, Path, list[Replica]]]:
    """The database URL, a config, and the replicas a test starts (stopped at the end, whatever happens)."""
    with pg_schema() as url:
        config = tmp_path / "vodhook.toml"
        write_config(config, url, collector[1])
        replicas: list[Replica] = []
        try:
            yield url, config, replicas
        finally:
            for replica in replicas:
                if replica.alive():
                    replica.process.send_signal(signal.SIGTERM)
            for replica in replicas:
                try:
                    replica.process.wait(20)
                except subprocess.TimeoutExpired:
                    replica.kill()


# callbacks -------------------------------------------------------------------------------------------------


def procedure(task: str, status: str) -> bytes:
    subtask: dict[str, Any] = {
        "taskType": "Transcode",
        "status": "SUCCESS" if status == "FINISH" else "PROCESSING",
        "errCode": 0,
        "message": "",
        "input": {"definition": 20},
    }
    if status == "FINISH":
        subtask["output"] = {"url": f"http://x.vod2.myqcloud.com/{task}.mp4", "bitrate": 246035}
    body = {
        "version": "4.0",
        "eventType": "ProcedureStateChanged",
        "data": {
            "vodTaskId": task,
            "status": status,
            "errCode": 0,
            "message": "",
            "fileId": f"file-{task}",
            "processTaskList": [subtask],
        },
    }
    return json.dumps(body).encode()


async def post_all(targets: list[tuple[str, bytes]]) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def post(url: str, body: bytes) -> int:
            response = await client.post(f"{url}/callbacks/vod", content=body)
            return response.status_code

        return list(await asyncio.gather(*(post(url, body) for url, body in targets)))


@pytest.fixture
async def store(cluster: tuple[str, Path, list[Replica]]) -> AsyncIterator[PostgresStore]:
    """A store on the replicas' database, to look at what they did."""
    url = cluster[0]
    opened = PostgresStore(url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def until(what: str, check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.2)


async def settled(store: PostgresStore, events: int) -> bool:
    """All captures processed, `events` events stored, every outbox message delivered."""
    counts = await store.counts()
    if counts["captures_pending"] or counts["events"] < events:
        return False
    return all(set(states) == {"delivered"} for states in (await store.outbox_counts()).values())


async def sql(store: PostgresStore, statement: str) -> list[tuple[Any, ...]]:
    """Look at a column no Store method shows."""
    async with await psycopg.AsyncConnection.connect(store.url, autocommit=True) as conn:
        return list(await (await conn.execute(statement)).fetchall())


def holder_pid(holder: str | None) -> int | None:
    return int(holder.split(":")[1]) if holder else None


# the test ------------------------------------------------------------------------------------------------


async def test_three_replicas_share_one_database(
    cluster: tuple[str, Path, list[Replica]],
    collector: tuple[Collector, str],
    store: PostgresStore,
    tmp_path: Path,
) -> None:
    _, config, replicas = cluster
    hook = collector[0]
    replicas += [start_replica(f"replica-{n}", config, tmp_path / "replicas") for n in range(3)]
    wait_ready(replicas)

    # The same callbacks to all three at once, and each a second time to the first: 4 receipts of each.
    tasks = [f"1400104074-procedurev2-{n:04d}" for n in range(25)]
    bodies = [procedure(task, status) for task in tasks for status in ("PROCESSING", "FINISH")]
    targets = [(replica.url, body) for body in bodies for replica in replicas] + [(replicas[0].url, b) for b in bodies]
    statuses = await post_all(targets)
    assert Counter(statuses) == {200: len(targets)}

    await until("the replicas processed and forwarded everything", lambda: settled(store, len(bodies)))
    counts = await store.counts()
    assert counts["events"] == len(bodies)  # one event per callback, however many times it came
    assert counts["captures_processed"] == len(targets)
    assert counts["tasks"] == len(tasks)
    for task in tasks:
        state = await store.get_task("tencent-vod", task)
        assert state is not None and state.status == "finished" and state.outcome == "success"
        timeline = await store.task_events("tencent-vod", task)
        assert state.version == sum(1 for item in timeline if item.effect == "applied")

    # Every outbox message went out once per sink: the shared webhook and the replicas' own files.
    messages = await store.list_outbox(OutboxFilter(limit=10_000))
    by_sink = Counter(message.sink for message in messages)
    applied = 0
    for task in tasks:
        applied += sum(1 for item in await store.task_events("tencent-vod", task) if item.effect == "applied")
    assert by_sink == {"hook": applied, "out": applied}
    hook_ids = {str(message.id) for message in messages if message.sink == "hook"}
    assert Counter(delivery for delivery, _ in hook.received) == dict.fromkeys(hook_ids, 1)
    lines = [
        json.loads(line)
        for replica in replicas
        if (replica.data_dir / "sinks" / "out.jsonl").exists()
        for line in (replica.data_dir / "sinks" / "out.jsonl").read_text().splitlines()
    ]
    out_events = Counter(message.event_id for message in messages if message.sink == "out")
    assert Counter(line["event_id"] for line in lines) == out_events
    assert set(out_events.values()) == {1}

    # The scheduler runs on one replica; SIGKILL it and another takes over.
    pids = {replica.process.pid: replica for replica in replicas}
    leader_pid = holder_pid(await store.lease_holder(SCHEDULER_LEASE))
    assert leader_pid in pids
    leader = pids[leader_pid]
    leader.kill()
    survivors = [replica for replica in replicas if replica is not leader]

    async def moved() -> bool:
        return holder_pid(await store.lease_holder(SCHEDULER_LEASE)) in {r.process.pid for r in survivors}

    await until("a survivor holds the scheduler lease", moved, timeout=30)
    assert all(replica.alive() for replica in survivors)

    # A capture-only replica takes callbacks and dies before processing them: the survivors take them over.
    keeper = start_replica("capture-only", config, tmp_path / "replicas", process=False, lease_s=10)
    replicas.append(keeper)
    wait_ready([keeper])
    late = [procedure(f"1400104074-procedurev2-late-{n:02d}", "FINISH") for n in range(10)]
    assert Counter(await post_all([(keeper.url, body) for body in late])) == {200: len(late)}
    pending = await store.list_captures(CaptureFilter(state=CaptureState.PENDING))
    assert len(pending) == len(late)
    claims = {
        holder_pid(holder) for (holder,) in await sql(store, "SELECT claimed_by FROM captures WHERE state = 'pending'")
    }
    assert claims == {keeper.process.pid}  # the keeper holds them: nobody else touches them while it lives
    keeper.kill()
    await until("the survivors took over the dead replica's captures", lambda: settled(store, len(bodies) + 10))
    assert (await store.counts())["events"] == len(bodies) + len(late)
    assert all(replica.alive() for replica in survivors)

"""Emulator benchmark: simulated tasks and callbacks per second, as ratios against baselines run alongside.

- sink: the bare Starlette endpoint of `bench._servers` (its own uvicorn process) receives every callback;
- baseline for task creation: the same client posting the same requests to the bare endpoint;
- baseline for callbacks: a bare httpx sender posting as many ready-made Alibaba callback bodies to that
  sink, with the emulator's connection policy (no keep-alive, same concurrency): the ceiling for pushing callbacks
  from Python, with no simulation, rendering, signing or ledger;
- emulator: its own uvicorn process with a frozen clock; N Alibaba transcode tasks (3 renditions, so 4
  callbacks each, signed) are created through the control API, one clock jump finishes them all, and the
  run ends when every callback is settled. Reported: tasks/s for creation over HTTP, tasks/s and callbacks/s
  end to end, and the simulation alone (tasks stepped and rendered, no HTTP) in-process.

`python -m bench.emulator [--tasks 1000] [--concurrency 64]`. Ratios, not absolute numbers, are the figures to
compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from receiver.emulator.app import create_emulator_app
from receiver.emulator.bodies.aliyun import AliyunBodies
from receiver.emulator.config import Dialect, DialectConfig, EmulatorConfig
from receiver.emulator.engine import Emulator
from receiver.emulator.simulation import Change, TaskRequest

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    process = subprocess.Popen([sys.executable, "-m", "bench._servers", "bare", str(port), str(directory)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.post(f"{url}/callbacks/ping", content=b"{}", timeout=1)
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the sink did not start") from None
            time.sleep(0.05)


def sample_bodies(count: int) -> list[bytes]:
    """Ready-made callbacks of the shape the emulator sends, rendered once up front."""
    bodies = AliyunBodies(DialectConfig())
    now = datetime.now(UTC)
    out: list[bytes] = []
    for ordinal in range(1, 101):
        task = bodies.build(TaskRequest(dialect=Dialect.ALIYUN_VOD), ordinal, now, 0)
        notices = [bodies.stream_notice(task, o) for o in task.outputs] + [bodies.task_notice(task)]
        out += [bodies.render(n, url="http://x", key="AbCd1234", now=now, corrupt=False).body for n in notices]
    return (out * (count // len(out) + 1))[:count]


async def baseline(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Callbacks per second a bare sender achieves against the sink."""
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:

        async def one(body: bytes) -> None:
            async with slots:
                response = await client.post(
                    f"{url}/callbacks/aliyun-vod",
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=30,
                )
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return len(bodies) / (time.perf_counter() - began)


async def bare_requests(url: str, count: int, concurrency: int) -> float:
    """Requests per second the bare endpoint answers to the same keep-alive client that creates tasks."""
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one() -> None:
            async with slots:
                (await client.post("/callbacks/create", json={"dialect": "aliyun-vod"})).raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return count / (time.perf_counter() - began)


def serve_emulator(port: int, sink_url: str, concurrency: int) -> None:
    """The emulator under test, in its own process (`--serve`), so it does not share a GIL with the load."""
    dialects = {
        Dialect.ALIYUN_VOD: DialectConfig(callback_url=f"{sink_url}/callbacks/aliyun-vod", callback_key="AbCd1234")
    }
    config = EmulatorConfig(
        time_scale=0, dialects=dialects, enforce_rate_limits=False, callback_concurrency=concurrency
    )
    uvicorn.run(create_emulator_app(config), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_emulator(sink_url: str, concurrency: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    command = [sys.executable, "-m", "bench.emulator", "--serve", str(port), sink_url, str(concurrency)]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/_emulator/config", timeout=1)
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the emulator did not start") from None
            time.sleep(0.05)


async def drive(url: str, tasks: int, concurrency: int) -> tuple[float, float, dict[str, Any]]:
    """Create `tasks` through the control API (`concurrency` at a time), finish them all with one clock jump,
    wait for every callback; returns (creation seconds, total seconds, settle answer)."""
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:

        async def create() -> None:
            async with slots:
                response = await client.post(
                    "/_emulator/tasks",
                    json={"dialect": "aliyun-vod", "durations": {"waiting_s": 0, "processing_s": 60}},
                )
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(create() for _ in range(tasks)))
        created = time.perf_counter()
        await client.post("/_emulator/clock", json={"advance_s": 61})
        settled: dict[str, Any] = (await client.post("/_emulator/settle", json={"timeout_s": 600})).json()
        return created - began, time.perf_counter() - began, settled


def emulator_run(sink_url: str, tasks: int, concurrency: int) -> dict[str, float]:
    process, url = start_emulator(sink_url, concurrency)
    try:
        creation_s, total_s, settled = asyncio.run(drive(url, tasks, min(concurrency, 16)))
    finally:
        process.terminate()
        process.wait(timeout=10)
    began, created, finished = 0.0, creation_s, total_s
    summary = settled["summary"]
    assert settled["settled"] and summary["balanced"] and summary["dropped"] == 0, summary
    delivery_s = finished - created
    return {
        "create_tasks_per_s": tasks / (created - began),
        "tasks_per_s": tasks / (finished - began),
        "callbacks": summary["delivered"],
        "callbacks_per_s": summary["delivered"] / delivery_s,
    }


async def simulation_only(tasks: int) -> float:
    """Tasks per second through create, three steps and rendering of every callback, with no HTTP at all."""
    emulator = Emulator(EmulatorConfig(time_scale=0, enforce_rate_limits=False))
    bodies = emulator.bodies[Dialect.ALIYUN_VOD]
    rendered = 0

    def render(change: Change) -> None:
        nonlocal rendered
        for notice in bodies.notices(change, DialectConfig()):
            bodies.render(notice, url="http://x", key="AbCd1234", now=emulator.clock.now(), corrupt=False)
            rendered += 1

    emulator.sim.subscribe(render)
    began = time.perf_counter()
    for _ in range(tasks):
        emulator.create_task(TaskRequest(dialect=Dialect.ALIYUN_VOD))
    emulator.move_clock(advance_s=60)
    elapsed = time.perf_counter() - began
    assert rendered == tasks * 4
    return tasks / elapsed


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve_emulator(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        sink, url = start_sink(Path(directory))
        try:
            callbacks = args.tasks * 4
            base = asyncio.run(baseline(url, sample_bodies(callbacks), args.concurrency))
            bare_creates = asyncio.run(bare_requests(url, args.tasks, min(args.concurrency, 16)))
            run = emulator_run(url, args.tasks, args.concurrency)
            sim = asyncio.run(simulation_only(args.tasks))
        finally:
            sink.terminate()
            sink.wait(timeout=10)
    result = {
        "tasks": args.tasks,
        "callbacks": run["callbacks"],
        "baseline_callbacks_per_s": round(base, 1),
        "emulator_callbacks_per_s": round(run["callbacks_per_s"], 1),
        "callbacks_ratio_vs_bare_sender": round(run["callbacks_per_s"] / base, 3),
        "emulator_tasks_per_s_end_to_end": round(run["tasks_per_s"], 1),
        "emulator_task_creations_per_s_over_http": round(run["create_tasks_per_s"], 1),
        "bare_endpoint_requests_per_s": round(bare_creates, 1),
        "creations_ratio_vs_bare_endpoint": round(run["create_tasks_per_s"] / bare_creates, 3),
        "simulation_only_tasks_per_s": round(sim, 1),
        "simulation_only_ratio_vs_bare_sender_callbacks": round(sim * 4 / base, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

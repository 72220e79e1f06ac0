"""Fallback test helpers: a real emulator (uvicorn, ephemeral port) and a real receiver pointed at it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from receiver.clock import Clock
from receiver.config import Settings, load_settings
from receiver.fallback.scheduler import Fallback
from receiver.ingest import Pipeline
from receiver.store.base import Store
from receiver.store.sqlite import SqliteStore
from tests.conftest import RunningReceiver, serve_in_thread
from tests.emulator.conftest import Control, emulator, sink  # noqa: F401  (the fixtures, re-exported)


@dataclass
class Rig:
    """One scheduler as `vodhook serve` builds it (without the HTTP side): store, pipeline, Fallback."""

    settings: Settings
    store: Store
    fallback: Fallback


async def make_rig(settings: Settings, store: Store, clock: Clock, *, opened: bool = False) -> Rig:
    if not opened:
        await store.open()
    pipeline = Pipeline(store, settings.sources, clock)
    fallback = Fallback(settings, pipeline, clock)
    fallback.attach()
    return Rig(settings, store, fallback)


@asynccontextmanager
async def sqlite_rig(settings: Settings, clock: Clock) -> AsyncIterator[Rig]:
    """A rig on the settings' SQLite store, stopped and closed when the block ends."""
    rig = await make_rig(settings, SqliteStore(settings.sqlite_path, clock), clock)
    try:
        yield rig
    finally:
        await rig.fallback.stop()
        await rig.store.close()


SCENARIO_OUTCOME = {"success": "success", "fail": "failed", "partial": "partial"}
PROVIDER = {
    "tencent-vod-v2": "tencent-vod",
    "tencent-vod-v3": "tencent-vod",
    "tencent-mps": "tencent-mps",
    "aliyun-vod": "aliyun-vod",
}


@dataclass(frozen=True)
class Surface:
    """What one dialect's fallback looks like from the emulator's side."""

    kinds: tuple[str, ...]  # the task kinds created, in turn
    query: str  # the task query (one per check)
    listing: tuple[str, ...]  # the sweep's listing requests
    retention_s: float  # the provider's query window


DAY_S = 86400.0
SURFACES = {
    "tencent-vod-v2": Surface(("procedure", "transcode"), "GetTaskInfo", ("GetTaskList",), 72 * 3600.0),
    "tencent-vod-v3": Surface(("procedure", "transcode"), "DescribeTaskDetail", ("DescribeTasks",), 3 * DAY_S),
    "tencent-mps": Surface(("workflow",), "DescribeTaskDetail", ("DescribeTasks",), 7 * DAY_S),
    "aliyun-vod": Surface(("transcode",), "GetTranscodeTask", ("GetVideoList", "ListTranscodeTask"), 365 * DAY_S),
}
DIALECTS = tuple(SURFACES)


def plan(dialect: str, count: int) -> list[tuple[str, str]]:
    """(kind, scenario) for `count` tasks. Tencent's transcode-like tasks report only their successful outputs
    (a partial task looks successful in callbacks and queries alike), so "partial" goes to the kinds that
    report it: procedures, MPS workflows and Alibaba transcode tasks."""
    pairs: list[tuple[str, str]] = []
    kinds = SURFACES[dialect].kinds
    while len(pairs) < count:
        for kind in kinds:
            scenarios = (
                ("success", "fail", "partial")
                if kind in ("procedure", "workflow") or dialect == "aliyun-vod"
                else ("success", "fail")
            )
            pairs.extend((kind, scenario) for scenario in scenarios)
    return pairs[:count]


def receiver_task_id(dialect: str, created: dict[str, Any]) -> str:
    """The receiver's id of an emulator task: Alibaba's reports carry no TranscodeTaskId, so the receiver
    keys a video's transcoding on `transcode:<VideoId>`."""
    return f"transcode:{created['file_id']}" if dialect == "aliyun-vod" else str(created["task_id"])


def fallback_settings(tmp_path: Path, emu: Control, dialect: str, **fallback: Any) -> Settings:
    source: dict[str, Any] = {"secret_id": "test", "secret_key": "test", "endpoint": emu.server.url}
    source.update(fallback.pop("source", {}))
    return load_settings(
        data_dir=tmp_path / "data",
        fallback={
            "enabled": True,
            "sources": {dialect: source},
            "deadline_s": 0.5,
            "tick_s": 0.1,
            "backoff_base_s": 0.3,
            "backoff_max_s": 2.0,
            "sweep_interval_s": 0.3,
            **fallback,
        },
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def receiver_task(receiver: RunningReceiver, dialect: str, task_id: str) -> dict[str, Any] | None:
    """The receiver's task state (`GET /api/tasks/<provider>/<task id>`), None when it has none."""
    with receiver.client() as http:
        answer = http.get(f"/api/tasks/{PROVIDER[dialect]}/{task_id}")
    if answer.status_code == 404:
        return None
    task: dict[str, Any] | None = answer.json()["task"]
    return task


def tracked(receiver: RunningReceiver, task_id: str) -> dict[str, Any] | None:
    """What the fallback keeps about a task (`GET /api/tasks?task_id=`), None when it does not track it."""
    with receiver.client() as http:
        items: list[dict[str, Any]] = http.get("/api/tasks", params={"task_id": task_id, "limit": 1000}).json()["items"]
    return items[0] if items else None


def receiver_events(receiver: RunningReceiver, task_id: str) -> list[dict[str, Any]]:
    with receiver.client() as http:
        items: list[dict[str, Any]] = http.get("/api/events", params={"task_id": task_id}).json()["items"]
    return items


def ledger_time(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))


def busiest_window(times: Sequence[datetime], window_s: float = 1.0) -> int:
    """The most entries in any half-open window [t, t + window_s) (one starting at each entry is enough).

    A token bucket of `rate`/s holding `burst` lets at most burst + rate requests into any one second."""
    ordered = sorted(times)
    most, end = 0, 0
    for start, when in enumerate(ordered):
        while end < len(ordered) and (ordered[end] - when).total_seconds() < window_s:
            end += 1
        most = max(most, end - start)
    return most


def task_queries(emu: Control, dialect: str) -> Counter[str]:
    """How many times the receiver queried each emulator task (listing requests name no task)."""
    action = SURFACES[dialect].query
    return Counter(str(q["task_id"]) for q in emu.entries("query") if q["detail"]["action"] == action)


@pytest.fixture
def running() -> Iterator[Callable[..., RunningReceiver]]:
    """`running(settings, clock=None)` starts a receiver; all are stopped at the end of the test."""
    started: list[RunningReceiver] = []

    def start(settings: Settings, clock: Clock | None = None) -> RunningReceiver:
        receiver = serve_in_thread(settings, clock)
        started.append(receiver)
        return receiver

    try:
        yield start
    finally:
        for receiver in started:
            receiver.stop()

"""Emulator callbacks into a running vodhook receiver: every dialect normalizes, signed where it signs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from receiver.app import create_app
from receiver.config import load_settings
from receiver.emulator.config import DialectConfig, EmulatorConfig
from receiver.emulator.faults import FaultSpec
from tests.conftest import RunningReceiver, free_port
from tests.emulator.conftest import DIALECTS, Control, EmulatorFactory, balanced

KEY = "AbCd1234"
PROVIDER = {
    "tencent-vod-v2": "tencent-vod",
    "tencent-vod-v3": "tencent-vod",
    "tencent-mps": "tencent-mps",
    "aliyun-vod": "aliyun-vod",
}


@pytest.fixture
def receiver_with_keys(tmp_path: Path) -> Iterator[RunningReceiver]:
    """A receiver whose signed sources check KEY; Alibaba's public_url is the URL the emulator calls."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sources: dict[str, Any] = {d: {"dialect": d, "keys": [KEY]} for d in DIALECTS if d != "tencent-vod-v2"}
    sources["tencent-vod-v2"] = {"dialect": "tencent-vod-v2"}
    sources["aliyun-vod"]["public_url"] = f"{url}/callbacks/aliyun-vod"
    app = create_app(load_settings(data_dir=tmp_path / "data", sources=sources))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))

    def run() -> None:
        loop = asyncio.new_event_loop()
        app.state.loop = loop
        try:
            loop.run_until_complete(server.serve())
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.01)
    running = RunningReceiver(url=url, app=app, server=server, thread=thread)
    try:
        yield running
    finally:
        running.stop()


def emulator_for(emulator: EmulatorFactory, receiver: RunningReceiver, **overrides: Any) -> Control:
    dialects = {
        d: DialectConfig(callback_url=f"{receiver.url}/callbacks/{d}", callback_key=KEY, retry_interval_s=0.01)
        for d in DIALECTS
    }
    return emulator(EmulatorConfig(time_scale=0, dialects=dialects, **overrides))


def receiver_task(receiver: RunningReceiver, dialect: str, task: dict[str, Any]) -> dict[str, Any]:
    task_id = f"transcode:{task['file_id']}" if dialect == "aliyun-vod" else task["task_id"]
    with receiver.client() as client:
        response = client.get(f"/api/tasks/{PROVIDER[dialect]}/{task_id}")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def run(control: Control, receiver: RunningReceiver, dialect: str, **fields: Any) -> dict[str, Any]:
    task = control.create(dialect, **fields)
    control.finish(task["task_id"])
    assert balanced(control.settle()["summary"])
    receiver.drain()
    return task


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("scenario", "outcome"), [("success", "success"), ("partial", "partial"), ("fail", "failed")])
def test_each_dialect_normalizes(
    emulator: EmulatorFactory, receiver_with_keys: RunningReceiver, dialect: str, scenario: str, outcome: str
) -> None:
    control = emulator_for(emulator, receiver_with_keys)
    task = run(control, receiver_with_keys, dialect, scenario=scenario)
    state = receiver_task(receiver_with_keys, dialect, task)
    normalized = state["task"]
    assert normalized["status"] == "finished"
    assert normalized["outcome"] == outcome
    assert normalized["media_id"] in (task["file_id"], None) or dialect == "tencent-mps"
    outcomes = sorted(o["outcome"] for o in normalized["outputs"])
    expected = {"success": ["success"] * 3, "partial": ["failed", "success", "success"], "fail": ["failed"] * 3}
    assert outcomes == expected[scenario]
    assert {e["origin"] for e in state["events"]} == {"callback"}
    with receiver_with_keys.client() as client:
        assert client.get("/api/captures", params={"state": "refused"}).json()["items"] == []


@pytest.mark.parametrize("kind", ["procedure", "transcode", "clip", "concat", "snapshot", "sprite"])
@pytest.mark.parametrize("dialect", ["tencent-vod-v2", "tencent-vod-v3"])
def test_tencent_vod_kinds_normalize(
    emulator: EmulatorFactory, receiver_with_keys: RunningReceiver, dialect: str, kind: str
) -> None:
    control = emulator_for(emulator, receiver_with_keys)
    task = run(control, receiver_with_keys, dialect, kind=kind)
    normalized = receiver_task(receiver_with_keys, dialect, task)["task"]
    assert (normalized["task_kind"], normalized["status"], normalized["outcome"]) == (kind, "finished", "success")


@pytest.mark.parametrize("dialect", ["tencent-vod-v3", "tencent-mps", "aliyun-vod"])
def test_corrupt_signatures_are_refused(
    emulator: EmulatorFactory, receiver_with_keys: RunningReceiver, dialect: str
) -> None:
    control = emulator_for(emulator, receiver_with_keys, faults=FaultSpec(corrupt_signature=1.0))
    task = control.create(dialect, outputs=[{}])
    control.finish(task["task_id"])
    summary = control.settle()["summary"]
    assert balanced(summary)
    statuses = {a["detail"]["status"] for a in control.entries("attempt")}
    assert statuses and all(s is not None and s >= 400 for s in statuses)
    if dialect == "aliyun-vod":  # only HTTP 200 counts: retried, then dropped
        assert summary["dropped"] == summary["published"] and summary["attempts"] == 3 * summary["published"]
    else:  # VOD-derived policy: any answer counts as delivered
        assert summary["delivered"] == summary["published"]
    with receiver_with_keys.client() as client:
        refused = client.get("/api/captures", params={"state": "refused"}).json()["items"]
    assert len(refused) == summary["attempts"] and {c["source"] for c in refused} == {dialect}


def test_duplicates_become_one_event(emulator: EmulatorFactory, receiver_with_keys: RunningReceiver) -> None:
    control = emulator_for(emulator, receiver_with_keys, faults=FaultSpec(duplicate=1.0))
    task = run(control, receiver_with_keys, "tencent-mps")
    assert control.ledger()["summary"]["attempts"] == 2
    state = receiver_task(receiver_with_keys, "tencent-mps", task)
    assert len(state["events"]) == 1


def test_change_mode_is_tracked_forward_only(emulator: EmulatorFactory, receiver_with_keys: RunningReceiver) -> None:
    dialects = {
        d: DialectConfig(callback_url=f"{receiver_with_keys.url}/callbacks/{d}", callback_key=KEY, notify_mode="Change")
        for d in DIALECTS
    }
    control = emulator(EmulatorConfig(time_scale=0, dialects=dialects))
    task = control.create("tencent-vod-v3")
    control.advance(task["task_id"])
    control.settle()
    receiver_with_keys.drain()
    assert receiver_task(receiver_with_keys, "tencent-vod-v3", task)["task"]["status"] == "processing"
    control.finish(task["task_id"])
    control.settle()
    receiver_with_keys.drain()
    state = receiver_task(receiver_with_keys, "tencent-vod-v3", task)
    assert state["task"]["status"] == "finished" and len(state["events"]) >= 2

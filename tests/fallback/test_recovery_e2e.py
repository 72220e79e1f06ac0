"""End to end: an emulator that loses callbacks, a receiver that recovers every task by querying."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from receiver.config import Settings
from receiver.emulator.config import EmulatorConfig
from tests.conftest import RunningReceiver
from tests.fallback.conftest import SCENARIO_OUTCOME, fallback_settings, wait_until

PROVIDER = {"tencent-vod-v2": "tencent-vod", "tencent-vod-v3": "tencent-vod", "tencent-mps": "tencent-mps",
            "aliyun-vod": "aliyun-vod"}


def receiver_task(receiver: RunningReceiver, dialect: str, task_id: str) -> dict[str, Any] | None:
    with receiver.client() as http:
        answer = http.get(f"/api/tasks/{PROVIDER[dialect]}/{task_id}")
    if answer.status_code == 404:
        return None
    task: dict[str, Any] | None = answer.json()["task"]
    return task


def test_legacy_all_callbacks_dropped_sweep_finds_and_polls_recover(
    tmp_path: Path, emulator: Any, running: Callable[[Settings], RunningReceiver]
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    receiver = running(fallback_settings(tmp_path, emu, "tencent-vod-v2"))
    scenarios = ["success", "fail", "success", "fail", "success", "success"]
    created = [
        emu.create("tencent-vod-v2", kind="transcode", scenario=s,
                   callback_url=f"{receiver.url}/callbacks/tencent-vod-v2")
        for s in scenarios
    ]
    for task in created:
        emu.finish(task["task_id"])

    def all_recovered() -> bool:
        states = [receiver_task(receiver, "tencent-vod-v2", t["task_id"]) for t in created]
        return all(s is not None and s["status"] == "finished" for s in states)

    wait_until(all_recovered)
    for task, scenario in zip(created, scenarios, strict=True):
        state = receiver_task(receiver, "tencent-vod-v2", task["task_id"])
        assert state is not None
        assert state["outcome"] == SCENARIO_OUTCOME[scenario], (task, state)
        assert state["last_origin"] == "poll"
    assert emu.ledger()["summary"]["delivered"] == 0  # nothing came by callback
    queries = emu.entries("query")
    assert queries and all(q["detail"]["outcome"] == "ok" for q in queries)  # never over the limit
    info = [q for q in queries if q["detail"]["action"] == "GetTaskInfo"]
    # the sweep can find a task before it finishes (its deadline already past): then a second query
    assert len(created) <= len(info) <= 2 * len(created)
    with httpx.Client(base_url=receiver.url) as http:
        listed = http.get("/api/events", params={"task_id": created[0]["task_id"]}).json()["items"]
    assert {e["origin"] for e in listed} == {"poll"}
    with httpx.Client(base_url=receiver.url) as http:
        scraped = http.get("/metrics").text
    assert f"vodhook_fallback_recovered_total {float(len(created))}" in scraped
    assert "vodhook_fallback_overdue 0.0" in scraped


def test_legacy_lossy_duplicated_reordered_callbacks_all_tasks_reach_final_state(
    tmp_path: Path, emulator: Any, running: Callable[[Settings], RunningReceiver]
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0, reorder_hold_s=0.2,
                                  faults={"drop": 0.3, "duplicate": 0.2, "reorder": 0.2}))
    # The deadline leaves delivered callbacks time to be processed first: with 1 s, a callback processed late on a
    # loaded machine raced its own deadline and the task was queried once more than needed.
    receiver = running(fallback_settings(tmp_path, emu, "tencent-vod-v2", deadline_s=3.0))
    scenarios = ["success", "fail"] * 6
    created = [
        emu.create("tencent-vod-v2", kind="transcode", scenario=s, notify_mode="Change",
                   callback_url=f"{receiver.url}/callbacks/tencent-vod-v2")
        for s in scenarios
    ]
    for task in created:
        emu.finish(task["task_id"])
    emu.settle()

    def all_final() -> bool:
        states = [receiver_task(receiver, "tencent-vod-v2", t["task_id"]) for t in created]
        return all(s is not None and s["status"] == "finished" for s in states)

    wait_until(all_final)
    for task, scenario in zip(created, scenarios, strict=True):
        state = receiver_task(receiver, "tencent-vod-v2", task["task_id"])
        assert state is not None and state["outcome"] == SCENARIO_OUTCOME[scenario], (task, state)
    summary = emu.ledger()["summary"]
    assert summary["dropped"] > 0 and summary["delivered"] > 0  # some came by callback, some did not
    queries = emu.entries("query")
    assert all(q["detail"]["outcome"] == "ok" for q in queries)
    info = [q for q in queries if q["detail"]["action"] == "GetTaskInfo"]
    assert len(info) <= len(created)  # a task its callback finished is never queried


def test_legacy_task_past_retention_ends_lost(
    tmp_path: Path, emulator: Any, running: Callable[[Settings], RunningReceiver]
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    receiver = running(fallback_settings(tmp_path, emu, "tencent-vod-v2", source={"sweep": False}))
    old = emu.create("tencent-vod-v2", kind="transcode", age_s=73 * 3600.0)
    young = emu.create("tencent-vod-v2", kind="transcode", task_id="never-indexed-yet")
    with receiver.client() as http:
        for task, created_at in ((old, old["created_at"]), ("unknown-young", None)):
            task_id = task["task_id"] if isinstance(task, dict) else task
            answer = http.post("/api/tasks", json={"source": "tencent-vod-v2", "task_id": task_id,
                                                   "created_at": created_at, "deadline_s": 0})
            assert answer.status_code == 201, answer.text
    assert young["task_id"] == "never-indexed-yet"

    def tracked(task_id: str) -> dict[str, Any]:
        with receiver.client() as http:
            answer = http.get("/api/tasks", params={"task_id": task_id, "limit": 1000})
            items: list[dict[str, Any]] = answer.json()["items"]
            return items[0]

    wait_until(lambda: tracked(old["task_id"])["state"] == "lost")
    # the same "not found" for a task inside the window is not enough: it stays open, retried with backoff
    wait_until(lambda: tracked("unknown-young")["attempts"] >= 2)
    assert tracked("unknown-young")["state"] == "open"

"""The spine end to end over real HTTP: capture, normalize, dedup, forward-only state, quarantine, refusals."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from receiver.config import Settings, load_settings
from tests.conftest import RunningReceiver, serve_in_thread

TASK = "1400104074-procedurev2-bd6711bd53f0f05ad51b0b8ac59f7a03t0"


def procedure(status: str, tasks: list[dict[str, Any]] | None = None, err: int = 0) -> bytes:
    body = {
        "version": "4.0",
        "eventType": "ProcedureStateChanged",
        "data": {
            "vodTaskId": TASK,
            "status": status,
            "errCode": err,
            "message": "",
            "fileId": "5285890809593139008",
            "processTaskList": tasks or [],
        },
    }
    return json.dumps(body).encode()


def transcode_subtask(definition: int, status: str) -> dict[str, Any]:
    task: dict[str, Any] = {
        "taskType": "Transcode",
        "status": status,
        "errCode": 0,
        "message": "",
        "input": {"definition": definition},
    }
    if status == "SUCCESS":
        task["output"] = {"url": f"http://x.vod2.myqcloud.com/f{definition}.mp4", "bitrate": 246035}
    return task


def post(receiver: RunningReceiver, body: bytes, source: str = "tencent-vod-v2") -> Any:
    with receiver.client() as client:
        return client.post(f"/callbacks/{source}", content=body)


def api(receiver: RunningReceiver, path: str, **params: Any) -> Any:
    with receiver.client() as client:
        response = client.get(f"/api{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()


def test_a_callback_is_captured_normalized_and_tracked(receiver: RunningReceiver) -> None:
    response = post(receiver, procedure("FINISH", [transcode_subtask(20, "SUCCESS")]))
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    receiver.drain()
    state = api(receiver, f"/tasks/tencent-vod/{TASK}")
    task = state["task"]
    assert task["status"] == "finished"
    assert task["outcome"] == "success"
    assert task["provider_status"] == "FINISH"
    assert task["media_id"] == "5285890809593139008"
    assert task["version"] == 1
    assert [o["key"] for o in task["outputs"]] == ["Transcode:20#0"]
    assert task["outputs"][0]["bitrate_bps"] == 246035
    [event] = state["events"]
    assert event["origin"] == "callback"
    assert event["source"] == "tencent-vod-v2"
    assert event["capture_id"] == response.json()["capture_id"]


def test_a_duplicate_yields_one_event(receiver: RunningReceiver) -> None:
    body = procedure("FINISH", [transcode_subtask(20, "SUCCESS")])
    first, second = post(receiver, body), post(receiver, body)
    assert first.status_code == second.status_code == 200
    assert first.json()["capture_id"] != second.json()["capture_id"]
    receiver.drain()
    events = api(receiver, "/events", task_id=TASK)["items"]
    assert len(events) == 1
    assert api(receiver, f"/tasks/tencent-vod/{TASK}")["task"]["version"] == 1


def test_out_of_order_delivery_never_regresses_a_task(receiver: RunningReceiver) -> None:
    post(receiver, procedure("FINISH", [transcode_subtask(20, "SUCCESS"), transcode_subtask(30, "SUCCESS")]))
    receiver.drain()
    post(receiver, procedure("PROCESSING", [transcode_subtask(20, "SUCCESS"), transcode_subtask(30, "PROCESSING")]))
    receiver.drain()
    state = api(receiver, f"/tasks/tencent-vod/{TASK}")
    assert state["task"]["status"] == "finished"
    assert state["task"]["outcome"] == "success"
    assert state["task"]["version"] == 1
    assert {o["key"]: o["status"] for o in state["task"]["outputs"]} == {
        "Transcode:20#0": "finished",
        "Transcode:30#0": "finished",
    }
    assert [e["effect"] for e in state["events"]] == ["applied", "stale"]


def test_in_order_delivery_moves_forward_and_counts_versions(receiver: RunningReceiver) -> None:
    post(receiver, procedure("PROCESSING", [transcode_subtask(20, "PROCESSING")]))
    receiver.drain()
    post(receiver, procedure("PROCESSING", [transcode_subtask(20, "SUCCESS")]))
    receiver.drain()
    post(receiver, procedure("FINISH", [transcode_subtask(20, "SUCCESS")]))
    receiver.drain()
    state = api(receiver, f"/tasks/tencent-vod/{TASK}")
    assert state["task"]["status"] == "finished"
    assert state["task"]["version"] == 3
    assert [e["effect"] for e in state["events"]] == ["applied", "applied", "applied"]


def test_unparseable_bodies_are_quarantined_and_listed(receiver: RunningReceiver) -> None:
    cases = {b"not json at all": "body is not JSON", b"": "empty body", b'{"hello": "world"}': "eventType"}
    for body in cases:
        assert post(receiver, body).status_code == 200
    receiver.drain()
    items = api(receiver, "/quarantine")["items"]
    assert len(items) == 3
    by_body = {item["body"]: item["error"] for item in items}
    for body, fragment in cases.items():
        assert fragment in by_body[body.decode()], by_body
    assert all(item["state"] == "quarantined" for item in items)
    assert api(receiver, "/events")["items"] == []


def test_a_malformed_nested_field_degrades_to_a_warning(receiver: RunningReceiver) -> None:
    body = json.loads(procedure("FINISH", [transcode_subtask(20, "SUCCESS")]))
    body["data"]["processTaskList"][0]["output"]["bitrate"] = "fast"
    post(receiver, json.dumps(body).encode())
    receiver.drain()
    [event] = api(receiver, "/events")["items"]
    assert event["status"] == "finished"
    assert event["outputs"][0]["bitrate_bps"] is None
    assert event["outputs"][0]["url"] == "http://x.vod2.myqcloud.com/f20.mp4"
    assert len(event["warnings"]) == 1
    assert "processTaskList[0].output.bitrate" in event["warnings"][0]
    assert "'fast'" in event["warnings"][0]


def test_an_unknown_source_is_404(receiver: RunningReceiver) -> None:
    response = post(receiver, procedure("FINISH"), source="no-such-source")
    assert response.status_code == 404
    assert "no-such-source" in response.json()["error"]


def test_an_oversized_body_is_413_and_leaves_a_refusal_record(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", max_body_bytes=1000)
    running = serve_in_thread(settings)
    try:
        body = b'{"version":"4.0","eventType":"X","data":"' + b"a" * 5000 + b'"}'
        response = post(running, body)
        assert response.status_code == 413
        assert f"{len(body)} bytes" in response.json()["error"]
    finally:
        running.stop()
    with closing(sqlite3.connect(settings.sqlite_path)) as conn:
        [(source, size, head, reason)] = conn.execute("SELECT source, body_size, body_head, reason FROM refusals")
        captured = conn.execute("SELECT count(*) FROM captures").fetchone()[0]
    assert source == "tencent-vod-v2"
    assert size == len(body)
    assert head == body[: len(head)] and len(head) > 0
    assert "over the limit of 1000" in reason
    assert captured == 0


def test_the_admin_api_requires_the_token_when_one_is_set(tmp_path: Path) -> None:
    running = serve_in_thread(load_settings(data_dir=tmp_path / "data", admin_token="s3cret"))
    try:
        with running.client() as client:
            assert client.get("/api/events").status_code == 401
            assert client.get("/api/events", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get("/api/events", headers={"Authorization": "Bearer s3cret"}).status_code == 200
            assert client.post("/callbacks/tencent-vod-v2", content=procedure("FINISH")).status_code == 200
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").json() == {"status": "ready"}
    finally:
        running.stop()


def test_events_are_paginated_newest_first(receiver: RunningReceiver) -> None:
    for index in range(5):
        body = json.loads(procedure("FINISH"))
        body["data"]["vodTaskId"] = f"task-{index}"
        post(receiver, json.dumps(body).encode())
    receiver.drain()
    first = api(receiver, "/events", limit=2)
    assert [e["task_id"] for e in first["items"]] == ["task-4", "task-3"]
    second = api(receiver, "/events", limit=2, cursor=first["next_cursor"])
    assert [e["task_id"] for e in second["items"]] == ["task-2", "task-1"]
    assert api(receiver, "/events", source="tencent-vod-v2", task_id="task-0")["items"][0]["task_id"] == "task-0"
    with receiver.client() as client:
        bad = client.get("/api/events", params={"since": "yesterday-ish"})
        assert bad.status_code == 400
        assert "since" in bad.json()["error"] and "yesterday-ish" in bad.json()["error"]


def test_a_restart_on_the_same_data_dir_keeps_everything(settings: Settings) -> None:
    first = serve_in_thread(settings)
    try:
        post(first, procedure("FINISH", [transcode_subtask(20, "SUCCESS")]))
        post(first, b"garbage")
        first.drain()
    finally:
        first.stop()
    second = serve_in_thread(settings)
    try:
        assert api(second, f"/tasks/tencent-vod/{TASK}")["task"]["version"] == 1
        assert len(api(second, "/events")["items"]) == 1
        assert len(api(second, "/quarantine")["items"]) == 1
        post(second, procedure("FINISH", [transcode_subtask(20, "SUCCESS")]))
        second.drain()
        assert len(api(second, "/events")["items"]) == 1
    finally:
        second.stop()

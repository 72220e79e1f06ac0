"""Capture export/import/prune and replay, end to end: real receivers over HTTP, the real CLI, real SQLite."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from receiver import dialects
from receiver.cli import main
from receiver.config import load_settings
from receiver.dialects.base import NormalizeContext, RawCallback, SigningPolicy
from receiver.dialects.tencent_mps.verify import sign as mps_sign
from receiver.model import Origin
from receiver.replay import capture_record, parse_record, resign, target_url
from receiver.store.base import Capture, CaptureState
from receiver.store.sqlite import SqliteStore
from tests.conftest import FIXTURES, RunningReceiver, fixture_files, fixture_headers, serve_in_thread

#: Timing fields of a task that say when *this* receiver saw it, not what the provider said.
RECEIPT_TIMES = ("first_seen_at", "changed_at")


def cli(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def processable(dialect: str) -> list[Path]:
    return [p for p in fixture_files(dialect) if "__invalid" not in p.name and "__unidentifiable" not in p.name]


def post_fixtures(receiver: RunningReceiver, dialect_names: tuple[str, ...]) -> int:
    sent = 0
    with receiver.client() as client:
        for name in dialect_names:
            for path in processable(name):
                response = client.post(f"/callbacks/{name}", content=path.read_bytes(), headers=fixture_headers(path))
                assert response.status_code == 200, (path.name, response.text)
                sent += 1
    receiver.drain()
    return sent


def state_of(receiver: RunningReceiver, replayed: bool = False) -> dict[str, Any]:
    """Every event id and every task's normalized state (without this receiver's own receipt times).

    `replayed`: a replay is a new request, received at a new time; a task whose provider sends no time of
    its own (e.g. MPS) has that receipt time as its `provider_time`, so it is left out as well.
    """
    events: list[dict[str, Any]] = []
    with receiver.client() as client:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/events", params=params).json()
            events += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        tasks = {}
        for key in sorted({(e["provider"], e["task_id"]) for e in events if e["task_id"]}):
            found = client.get(f"/api/tasks/{key[0]}/{key[1]}").json()["task"]
            if found is not None:
                untimed = not any(found[f] for f in ("created_at", "started_at", "updated_at", "finished_at"))
                skip = (*RECEIPT_TIMES, "provider_time") if replayed and untimed else RECEIPT_TIMES
                tasks["/".join(key)] = {k: v for k, v in found.items() if k not in skip}
    return {"event_ids": sorted(e["event_id"] for e in events), "tasks": tasks}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RunningReceiver, RunningReceiver]]:
    first = serve_in_thread(load_settings(data_dir=tmp_path / "a"))
    second = serve_in_thread(load_settings(data_dir=tmp_path / "b"))
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_export_then_replay_into_another_receiver_gives_identical_task_states(
    pair: tuple[RunningReceiver, RunningReceiver], tmp_path: Path
) -> None:
    first, second = pair
    sent = post_fixtures(first, ("tencent-vod-v2", "tencent-mps", "aliyun-vod"))
    export = tmp_path / "captures.jsonl"
    result = cli("--data-dir", str(tmp_path / "a"), "captures", "export", "-o", str(export))
    assert result.exit_code == 0, result.output
    lines = export.read_text().splitlines()
    assert len(lines) == sent
    record = json.loads(lines[0])
    assert {
        "id",
        "source",
        "dialect",
        "origin",
        "received_at",
        "remote",
        "method",
        "path",
        "query",
        "headers",
        "body",
        "verification",
        "state",
    } <= set(record)

    # One at a time: the fixtures hold contradictory terminal reports of one task with the same provider
    # time, which arrival order decides (concurrent sending may reorder them).
    result = cli("replay", "--from-file", str(export), "--to", second.url)
    assert result.exit_code == 0, result.output
    assert f"sent {sent}: accepted {sent}, refused 0, failed 0" in result.output
    second.drain()
    original = state_of(first)
    assert original["tasks"]
    assert state_of(second, replayed=True) == state_of(first, replayed=True)

    # A replayed callback keeps its event id: replaying again (from the store this time) changes nothing.
    result = cli("--data-dir", str(tmp_path / "a"), "replay", "--to", second.url)
    assert result.exit_code == 0, result.output
    second.drain()
    assert state_of(second, replayed=True) == state_of(first, replayed=True)


def test_dry_run_sends_nothing(pair: tuple[RunningReceiver, RunningReceiver], tmp_path: Path) -> None:
    first, second = pair
    sent = post_fixtures(first, ("tencent-vod-v2",))
    result = cli("--data-dir", str(tmp_path / "a"), "replay", "--to", second.url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would send {sent}" in result.output
    with second.client() as client:
        assert client.get("/api/captures").json()["items"] == []


def test_import_then_process_equals_the_original_and_a_reimport_changes_nothing(tmp_path: Path) -> None:
    first = serve_in_thread(load_settings(data_dir=tmp_path / "a"))
    try:
        post_fixtures(first, ("tencent-vod-v3", "tencent-mps"))
        original = state_of(first)
        export = tmp_path / "captures.jsonl"
        assert cli("--data-dir", str(tmp_path / "a"), "captures", "export", "-o", str(export)).exit_code == 0
    finally:
        first.stop()
    count = len(export.read_text().splitlines())

    result = cli("--data-dir", str(tmp_path / "c"), "captures", "import", str(export))
    assert result.exit_code == 0, result.output
    assert f"imported {count} captures (0 already here), {count} normalized" in result.output
    result = cli("--data-dir", str(tmp_path / "c"), "captures", "import", str(export))
    assert f"imported 0 captures ({count} already here)" in result.output

    third = serve_in_thread(load_settings(data_dir=tmp_path / "c"))
    try:
        assert state_of(third) == original
        with third.client() as client:
            items = client.get("/api/captures", params={"limit": 1000}).json()["items"]
        assert len(items) == count
        exported = {json.loads(line)["received_at"] for line in export.read_text().splitlines()}
        assert {item["received_at"] for item in items} == exported  # original receipt times kept
    finally:
        third.stop()


def mps_body(expiry: int, key: str) -> bytes:
    document = json.loads((FIXTURES / "tencent-mps" / "WorkflowTask.json").read_bytes())
    document["Timestamp"] = expiry
    document["Sign"] = mps_sign(key, expiry)
    return json.dumps(document).encode()


def test_resign_is_accepted_where_the_expired_original_is_refused(tmp_path: Path) -> None:
    sources = {"mps": {"dialect": "tencent-mps", "keys": ["staging-key"], "tolerance_s": 60}}
    config = tmp_path / "vodhook.toml"
    config.write_text('[sources.mps]\ndialect = "tencent-mps"\nkeys = ["staging-key"]\n')
    # The first receiver runs an hour in the past: it accepts a callback signed then, which has expired now.
    first = serve_in_thread(load_settings(data_dir=tmp_path / "a", sources=sources, clock_offset_s=-3600))
    second = serve_in_thread(load_settings(data_dir=tmp_path / "b", sources=sources))
    try:
        with first.client() as client:
            signed_then = int(time.time()) - 3600 + 600
            assert client.post("/callbacks/mps", content=mps_body(signed_then, "staging-key")).status_code == 200
        first.drain()
        data_a = ("--config", str(config), "--data-dir", str(tmp_path / "a"))

        result = cli(*data_a, "replay", "--to", second.url)
        assert result.exit_code == 1
        assert "sent 1: accepted 0, refused 1, failed 0" in result.output
        with second.client() as client:
            [refused] = client.get("/api/captures", params={"state": "refused"}).json()["items"]
        assert "expired" in refused["verification_reason"]

        result = cli(*data_a, "replay", "--to", second.url, "--resign")
        assert result.exit_code == 0, result.output
        assert "sent 1: accepted 1, refused 0, failed 0" in result.output
        second.drain()
        assert state_of(second, replayed=True) == state_of(first, replayed=True)
    finally:
        first.stop()
        second.stop()


def test_resign_without_a_key_is_an_error_naming_the_source(tmp_path: Path) -> None:
    record = {
        "source": "tencent-mps",
        "dialect": "tencent-mps",
        "received_at": "2024-05-01T00:00:00+00:00",
        "headers": {},
        "body": base64.b64encode(mps_body(1, "k")).decode(),
        "verification": "unsigned",
    }
    export = tmp_path / "one.jsonl"
    export.write_text(json.dumps(record) + "\n")
    result = CliRunner().invoke(main, ["replay", "--from-file", str(export), "--to", "http://127.0.0.1:9", "--resign"])
    assert result.exit_code == 1
    assert "target source 'tencent-mps' has no signing key" in result.output


SIGNED = [
    ("aliyun-vod", "TranscodeComplete__signed.json"),
    ("tencent-mps", "WorkflowTask__signed.json"),
    ("tencent-vod-v3", "ProcedureStateChanged__signed.json"),
]


@pytest.mark.parametrize(("dialect", "name"), SIGNED)
def test_resign_verifies_under_the_target_key_and_keeps_event_ids(dialect: str, name: str) -> None:
    path = FIXTURES / dialect / name
    received = datetime(2023, 11, 14, tzinfo=UTC)
    headers = {k.lower(): v for k, v in fixture_headers(path).items()}
    capture = Capture(
        source="x",
        dialect=dialect,
        received_at=received,
        method="POST",
        path="/callbacks/x",
        query="",
        headers=headers,
        body=path.read_bytes(),
        remote=None,
        verification="verified",
        id=1,
    )
    policy = SigningPolicy(keys=("target-key",), public_url="https://staging.example.com/callbacks/x")
    now = datetime.now(UTC)
    new_headers, new_body = resign(capture, policy, now.timestamp())
    implementation = dialects.get(dialect)
    raw = RawCallback(
        source="x",
        body=new_body,
        headers=new_headers,
        received_at=now,
        remote=None,
        method="POST",
        path="/callbacks/x",
        query="",
    )
    assert implementation.verify(raw, policy, now).accepted
    assert not implementation.verify(raw, policy, now + timedelta(hours=2)).accepted

    def ids(body: bytes) -> list[str]:
        ctx = NormalizeContext(source="x", origin=Origin.CALLBACK, received_at=received, capture_id=1)
        return [event.event_id for event in implementation.normalize(implementation.decode(body), ctx)]

    assert ids(new_body) == ids(capture.body)


def test_export_records_round_trip() -> None:
    capture = Capture(
        source="s",
        dialect="tencent-vod-v2",
        received_at=datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        method="POST",
        path="/callbacks/s",
        query="a=1",
        headers={"content-type": "application/json"},
        body=b"\x00\xff{}",
        remote="10.0.0.1",
        verification="unsigned",
        id=7,
        state=CaptureState.PROCESSED,
        event_ids=("e1",),
    )
    assert parse_record(json.loads(json.dumps(capture_record(capture)))) == capture


def test_target_url_forms() -> None:
    assert target_url("http://h:1", "s") == "http://h:1/callbacks/s"
    assert target_url("http://h:1/", "s") == "http://h:1/callbacks/s"
    assert target_url("http://h:1/in/{source}", "s") == "http://h:1/in/s"
    assert target_url("http://h:1/hook", "s") == "http://h:1/hook"


def test_prune_by_age_and_size_keeps_pending_captures(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    body = (FIXTURES / "tencent-vod-v2" / "ClipComplete.json").read_bytes()

    def record(days_ago: float, n: int) -> str:
        return json.dumps(
            {
                "source": "tencent-vod-v2",
                "dialect": "tencent-vod-v2",
                "method": "POST",
                "path": "/callbacks/tencent-vod-v2",
                "query": f"n={n}",
                "headers": {},
                "received_at": (now - timedelta(days=days_ago)).isoformat(),
                "body": base64.b64encode(body).decode(),
                "verification": "unsigned",
            }
        )

    export = tmp_path / "old.jsonl"
    export.write_text("\n".join([record(30, 1), record(20, 2), record(1, 3), record(0, 4)]) + "\n")
    data = ("--data-dir", str(tmp_path / "d"))
    assert cli(*data, "captures", "import", str(export)).exit_code == 0
    pending = tmp_path / "pending.jsonl"
    pending.write_text(record(40, 5) + "\n")
    assert cli(*data, "captures", "import", "--no-process", str(pending)).exit_code == 0

    result = cli(*data, "captures", "prune", "--older-than", "10")
    assert "pruned 2 captures" in result.output
    result = cli(*data, "captures", "prune", "--max-bytes", str(len(body) * 2))
    assert "pruned 1 captures" in result.output  # the pending one counts, but is never deleted

    async def left() -> list[tuple[str, str]]:
        store = SqliteStore(tmp_path / "d" / "vodhook.sqlite3")
        await store.open()
        try:
            from receiver.store.base import CaptureFilter

            found = await store.list_captures(CaptureFilter(limit=100))
            return sorted((c.query, c.state.value) for c in found)
        finally:
            await store.close()

    assert asyncio.run(left()) == [("n=4", "processed"), ("n=5", "pending")]
    assert cli(*data, "captures", "prune").exit_code == 2

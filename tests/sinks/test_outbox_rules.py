"""The outbox's pure rules: which events a sink takes, the retry schedule, and JSON Lines rotation."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from receiver.config import ConfigError, SinkSettings, load_settings
from receiver.model import Event, Origin, Outcome, Provider, Status, Task
from receiver.outbox import backoff_s, wants
from receiver.sinks.base import Delivery
from receiver.sinks.jsonl import JsonlSink
from receiver.store.base import Applied, Effect, OutboxMessage

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def numbered(n: int) -> Delivery:
    """A message with a body of about 200 bytes."""
    body = {"schema_version": 1, "event_id": f"e{n}", "event_type": "X", "provider": "p", "pad": "x" * 100}
    return Delivery.of(OutboxMessage(n, "file", f"e{n}", "p", "t", n, body, "pending", 0, T0))


def applied(status: Status, outcome: Outcome | None = None, effect: Effect = Effect.APPLIED, **kw: object) -> Applied:
    event = Event.build(
        provider=Provider.TENCENT_VOD,
        dialect="tencent-vod-v2",
        source=kw.get("source", "vod"),
        origin=Origin.CALLBACK,
        event_type=kw.get("event_type", "ProcedureStateChanged"),
        task_id="t1",
        status=status,
        outcome=outcome,
        received_at=T0,
    )
    task = Task(
        provider=Provider.TENCENT_VOD,
        task_id="t1",
        source="vod",
        dialect="tencent-vod-v2",
        status=status,
        version=1,
        first_seen_at=T0,
        changed_at=T0,
    )
    return Applied(event=event, duplicate=bool(kw.get("duplicate")), effect=effect, task=task)


def test_only_task_changes_go_out_unless_a_sink_asks_for_every_event() -> None:
    plain, every = SinkSettings(), SinkSettings(every_event=True)
    change = applied(Status.PROCESSING)
    for quiet in (
        applied(Status.PROCESSING, duplicate=True),
        applied(Status.WAITING, effect=Effect.STALE),
        applied(Status.PROCESSING, effect=Effect.SAME_TRANSITION),
    ):
        assert not wants(plain, quiet)
        assert wants(every, quiet)
    assert wants(plain, change) and wants(every, change)


def test_filters_are_and_between_fields_and_or_within_one() -> None:
    sink = SinkSettings(statuses=[Status.FINISHED], outcomes=[Outcome.FAILED, Outcome.PARTIAL], sources=["vod"])
    assert wants(sink, applied(Status.FINISHED, Outcome.PARTIAL))
    assert not wants(sink, applied(Status.FINISHED, Outcome.SUCCESS))
    assert not wants(sink, applied(Status.PROCESSING))
    assert not wants(sink, applied(Status.FINISHED, Outcome.FAILED, source="other"))
    typed = SinkSettings(event_types=["NewFileUpload"], dialects=["tencent-vod-v2"])
    assert wants(typed, applied(Status.FINISHED, event_type="NewFileUpload"))
    assert not wants(typed, applied(Status.FINISHED))


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(7)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (30, 60.0)):
        waits = [backoff_s(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert max(waits) - min(waits) > ceiling / 10  # jittered, not a fixed schedule


def test_sink_settings_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sinks\.bus.*a redis sink needs stream"):
        load_settings(data_dir=tmp_path, sinks={"bus": {"type": "redis", "url": "redis://127.0.0.1:6379"}})
    with pytest.raises(ConfigError, match=r"sinks\.q.*needs url"):
        load_settings(data_dir=tmp_path, sinks={"q": {"type": "rabbitmq", "exchange": "x"}})
    settings = load_settings(data_dir=tmp_path, sinks={"file": {"statuses": ["finished"]}})
    assert settings.sinks["file"].type == "jsonl" and settings.sinks["file"].statuses == [Status.FINISHED]


def test_jsonl_rotates_by_size_and_keeps_every_line_in_order(tmp_path: Path) -> None:
    path = tmp_path / "sinks" / "events.jsonl"
    sink = JsonlSink("file", path, max_bytes=1024, keep_files=50)
    for n in range(40):
        assert asyncio.run(sink.send([numbered(n)])) == [None]
    rotated = sorted(path.parent.glob("events.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(rotated) >= 3
    assert all(p.stat().st_size <= 1024 for p in [*rotated, path])
    lines = [json.loads(line) for p in [*rotated, path] for line in p.read_text().splitlines()]
    assert [line["event_id"] for line in lines] == [f"e{n}" for n in range(40)]


def test_jsonl_keeps_only_keep_files_rotations(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink("file", path, max_bytes=1024, keep_files=2)
    for n in range(40):
        asyncio.run(sink.send([numbered(n)]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    newest = [
        json.loads(line)["event_id"]
        for p in (tmp_path / "events.jsonl.2", tmp_path / "events.jsonl.1", path)
        for line in p.read_text().splitlines()
    ]
    assert newest[-1] == "e39" and newest == [f"e{n}" for n in range(40 - len(newest), 40)]

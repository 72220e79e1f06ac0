"""Reliable-callback (pull) mode end to end: legacy PullEvent/ConfirmEvent and VOD 3.0 PullEvents/ConfirmEvents
against the emulator's queue, with a real receiver; once with a receiver killed between the pull and the store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.clock import SystemClock
from receiver.config import Settings
from receiver.emulator.config import DialectConfig, EmulatorConfig
from receiver.fallback.scheduler import LEASE_TTL_S
from tests.conftest import RunningReceiver, free_port
from tests.emulator.conftest import Control
from tests.fallback.conftest import fallback_settings, receiver_events, wait_until

PULL_DIALECTS = ("tencent-vod-v2", "tencent-vod-v3")
PULL = {"tencent-vod-v2": "PullEvent", "tencent-vod-v3": "PullEvents"}
CONFIRM = {"tencent-vod-v2": "ConfirmEvent", "tencent-vod-v3": "ConfirmEvents"}
REDELIVERY_S = 30.0  # the emulator's lease on a pulled event (the providers': confirm within 30 s)
Running = Callable[..., RunningReceiver]


def pull_emulator(emulator: Any, dialect: str, **config: Any) -> Control:
    control: Control = emulator(
        EmulatorConfig(time_scale=0, pull_wait_s=1.0, dialects={dialect: DialectConfig(mode="pull")}, **config)
    )
    return control


def pull_settings(tmp_path: Path, emu: Control, dialect: str) -> Settings:
    return fallback_settings(tmp_path, emu, dialect, deadline_s=600.0, source={"pull": True, "sweep": False})


def refused(emu: Control) -> list[dict[str, Any]]:
    """Queries the emulator refused, but for VOD 3.0's documented "nothing to pull" (ResourceNotFound after the
    long poll)."""
    return [
        q
        for q in emu.entries("query")
        if q["detail"]["outcome"] != "ok"
        and (q["detail"]["action"], q["detail"]["outcome"]) != ("PullEvents", "error:ResourceNotFound")
    ]


def by_notification(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(e["notification_id"]) for e in entries)


@pytest.mark.parametrize("dialect", PULL_DIALECTS)
def test_pulled_events_are_stored_once_and_each_confirmed_once(
    dialect: str, tmp_path: Path, emulator: Any, running: Running
) -> None:
    emu = pull_emulator(emulator, dialect, faults={"duplicate": 0.3, "reorder": 0.2}, reorder_hold_s=0.2)
    receiver = running(pull_settings(tmp_path, emu, dialect))
    created = [
        emu.create(dialect, kind=kind, scenario=scenario, notify_mode="Change")
        for kind, scenario in [("procedure", "success"), ("transcode", "fail")] * 4
    ]
    for task in created:
        emu.finish(task["task_id"])
    published = by_notification(emu.entries("published"))

    wait_until(lambda: by_notification(emu.entries("confirmed")).keys() == published.keys())
    emu.settle()
    queued = by_notification(emu.entries("queued"))
    assert any(n > 1 for n in queued.values())  # duplicates were queued twice (two handles) ...
    assert by_notification(emu.entries("confirmed")) == queued  # ... and each handle was confirmed once
    assert by_notification(emu.entries("delivered")) == published
    assert not refused(emu)
    assert {q["detail"]["action"] for q in emu.entries("query")} == {PULL[dialect], CONFIRM[dialect]}
    receiver.drain()
    for task in created:
        events = receiver_events(receiver, task["task_id"])
        per_task = sum(1 for e in emu.entries("published") if e["task_id"] == task["task_id"])
        assert len(events) == per_task, (task["task_id"], [e["event_type"] for e in events])  # one per notice
        assert {e["origin"] for e in events} == {"pull"}


@pytest.fixture
def subprocesses() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def toml(settings: dict[str, Any], prefix: str = "") -> list[str]:
    """A small TOML writer for the receiver's config: scalars first, then tables."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    for key, value in settings.items():
        if isinstance(value, dict):
            name = f"{prefix}.{key}" if prefix else key
            lines += ["", f"[{name}]", *toml(value, name)]
    return lines


@pytest.mark.parametrize("dialect", PULL_DIALECTS)
def test_receiver_killed_between_pull_and_store_gets_the_event_again_and_confirms_it_once(
    dialect: str, tmp_path: Path, emulator: Any, running: Running, subprocesses: list[subprocess.Popen[bytes]]
) -> None:
    emu = pull_emulator(emulator, dialect)
    settings = pull_settings(tmp_path, emu, dialect)
    config = tmp_path / "vodhook.toml"
    config.write_text(
        "\n".join(
            toml(
                {
                    "data_dir": str(settings.data_dir),
                    "log_level": "warning",
                    "fallback": settings.fallback.model_dump(mode="json", exclude_none=True),
                }
            )
        )
        + "\n",
        encoding="utf-8",
    )
    port = free_port()
    with (tmp_path / "receiver.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("vodhook")), "--config", str(config), "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    subprocesses.append(proc)
    # It is up and pulling (a long poll waits on the empty queue).
    wait_until(lambda: any(q["detail"]["action"] == PULL[dialect] for q in emu.entries("query")))

    # Its store stops taking writes: the pull's answer arrives, but its capture cannot commit.
    hold = sqlite3.connect(settings.sqlite_path, isolation_level=None, timeout=30.0)
    hold.execute("BEGIN EXCLUSIVE")
    try:
        task = emu.create(dialect, kind="transcode", scenario="success")
        emu.finish(task["task_id"])
        wait_until(lambda: len(emu.entries("pulled", task_id=task["task_id"])) == 1)
        first = emu.entries("pulled", task_id=task["task_id"])[0]
        wait_until(
            lambda: any(
                q["detail"]["action"] == PULL[dialect] and q["seq"] > first["seq"] for q in emu.entries("query")
            )
        )  # the answer went out (recorded after the pull)
        time.sleep(1.0)  # ... and reached the receiver, whose capture now waits for the store
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        hold.rollback()
        hold.close()
    assert not emu.entries("confirmed") and not [
        q for q in emu.entries("query") if q["detail"]["action"] == CONFIRM[dialect]
    ]

    # Time passes: the emulator's lease on the pulled event runs out, and so does the dead receiver's
    # scheduler lease in the store (its successor's clock is moved past it instead of waiting).
    emu.clock(advance_s=REDELIVERY_S + 1.0)
    receiver = running(settings, SystemClock(timedelta(seconds=LEASE_TTL_S + 10.0)))
    wait_until(lambda: bool(emu.entries("confirmed", task_id=task["task_id"])))
    receiver.drain()

    pulled = emu.entries("pulled", task_id=task["task_id"])
    confirmed = emu.entries("confirmed", task_id=task["task_id"])
    assert len(pulled) == 2 and pulled[0]["detail"]["handle"] != pulled[1]["detail"]["handle"]
    assert len(emu.entries("requeued", task_id=task["task_id"])) == 1  # handed out again after its lease ran out
    assert [c["detail"]["handle"] for c in confirmed] == [pulled[1]["detail"]["handle"]]  # once, the new handle
    assert len(emu.entries("delivered", task_id=task["task_id"])) == 1
    assert not refused(emu)
    events = receiver_events(receiver, task["task_id"])
    assert len(events) == 1 and events[0]["origin"] == "pull", events

"""Confirming terminal callbacks (`sources.<name>.confirm`), end to end: a real emulator, a real receiver over
HTTP, a JSON Lines sink. A terminal callback of a confirming source is held until one query of the provider
confirms it; a forged one is never applied nor forwarded, and its capture ends refused with the reason."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from receiver import dialects
from receiver.clock import SystemClock
from receiver.config import ConfigError, Settings, load_settings
from receiver.dialects.base import NormalizeContext
from receiver.emulator.config import EmulatorConfig
from receiver.fallback.scheduler import UNCONFIRMED_WARN_EVERY_S, Fallback
from receiver.ingest import Pipeline
from receiver.model import Origin, Status
from receiver.store.base import Confirmation, Effect
from receiver.store.sqlite import SqliteStore
from tests.conftest import RunningReceiver
from tests.emulator.conftest import Control, Received, Sink
from tests.fallback.conftest import (
    DIALECTS,
    SCENARIO_OUTCOME,
    SURFACES,
    receiver_events,
    receiver_task,
    receiver_task_id,
    task_queries,
    tracked,
    wait_until,
)

Running = Callable[..., RunningReceiver]
NOWHERE = "http://127.0.0.1:9/callbacks"
DROPPED = {"drop": 1.0}  # the emulator's books show the callback, nothing is sent


def confirm_settings(tmp_path: Path, emu: Control, dialect: str, *, confirm: bool = True, **overrides: Any) -> Settings:
    """One source for `dialect` (confirming or not), a JSON Lines sink, and the fallback pointed at the emulator
    with no sweep and a far deadline: the only queries are the confirmations (and the polls after them)."""
    return load_settings(
        data_dir=tmp_path / "data",
        sources={dialect: {"dialect": dialect, "confirm": confirm}},
        sinks={"out": {"type": "jsonl", "path": str(tmp_path / "out.jsonl")}},
        fallback={
            "enabled": True,
            "sources": {
                dialect: {"secret_id": "test", "secret_key": "test", "endpoint": emu.server.url, "sweep": False}
            },
            "deadline_s": 3600.0,
            "tick_s": 0.1,
            "backoff_base_s": 0.3,
            "backoff_max_s": 2.0,
        },
        **overrides,
    )


def sink_messages(tmp_path: Path, task_key: str) -> list[dict[str, Any]]:
    path = tmp_path / "out.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [message for message in lines if message["task_id"] == task_key]


def terminal_messages(tmp_path: Path, task_key: str) -> list[dict[str, Any]]:
    return [m for m in sink_messages(tmp_path, task_key) if m["task"] and m["task"]["status"] == "finished"]


def scrape(receiver: RunningReceiver) -> str:
    with receiver.client() as http:
        return http.get("/metrics").text


def metric(scraped: str, name: str) -> float:
    [line] = [line for line in scraped.splitlines() if line.startswith(f"{name} ")]
    return float(line.split()[1])


def finished_with(receiver: RunningReceiver, dialect: str, key: str, outcome: str) -> Callable[[], bool]:
    def check() -> bool:
        state = receiver_task(receiver, dialect, key)
        return state is not None and (state["status"], state["outcome"]) == ("finished", outcome)

    return check


def is_terminal(dialect: str, received: Received) -> bool:
    """Whether a callback the donor sink got reports its task finished (read by the receiver's own dialect)."""
    reader = dialects.get(dialect)
    context = NormalizeContext(source=dialect, origin=Origin.CALLBACK, received_at=datetime.now(UTC), capture_id=0)
    return any(event.status is Status.FINISHED for event in reader.normalize(reader.decode(received.body), context))


def forge(body: bytes, donor: dict[str, Any], target: dict[str, Any]) -> bytes:
    """The donor's genuine terminal callback, rewritten to name the target task (and, for Alibaba, its video)."""
    text = body.decode("utf-8")
    for field in ("task_id", "file_id"):
        if donor.get(field) and target.get(field):
            text = text.replace(str(donor[field]), str(target[field]))
    return text.encode("utf-8")


def genuine_finish_is_confirmed_by_one_query(
    dialect: str, tmp_path: Path, emu: Control, receiver: RunningReceiver
) -> None:
    kind = SURFACES[dialect].kinds[0]
    scenario = "partial" if kind in ("procedure", "workflow") else "success"
    created = emu.create(dialect, kind=kind, scenario=scenario, callback_url=f"{receiver.url}/callbacks/{dialect}")
    key = receiver_task_id(dialect, created)
    emu.finish(created["task_id"])

    wait_until(finished_with(receiver, dialect, key, SCENARIO_OUTCOME[scenario]))
    wait_until(lambda: (tracked(receiver, key) or {}).get("state") == "done")
    wait_until(lambda: len(terminal_messages(tmp_path, key)) >= 1)
    emu.settle()
    # the callback came, was held, and one query confirmed it
    assert emu.ledger()["summary"]["delivered"] >= 1
    assert task_queries(emu, dialect) == {created["task_id"]: 1}
    events = receiver_events(receiver, key)
    finishing = [e for e in events if e["status"] == "finished"]
    assert sorted((e["origin"], e["effect"]) for e in finishing) == [("callback", "confirmed"), ("poll", "applied")]
    state = receiver_task(receiver, dialect, key)
    assert state is not None and state["last_origin"] == "poll"  # the provider's word is what the task holds
    # the sink got the provider's state, once
    [terminal] = terminal_messages(tmp_path, key)
    assert (terminal["effect"], terminal["event"]["origin"]) == ("applied", "poll")
    assert terminal["task"]["outcome"] == SCENARIO_OUTCOME[scenario]
    scraped = scrape(receiver)
    assert metric(scraped, "vodhook_fallback_recovered_total") == 0.0
    assert metric(scraped, "vodhook_unconfirmed_callbacks_total") == 0.0
    assert 'vodhook_fallback_tracked{state="recovered"} 0.0' in scraped


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_genuine_terminal_callback_is_held_then_confirmed_by_one_query(
    dialect: str, tmp_path: Path, emulator: Any, running: Running
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    receiver = running(confirm_settings(tmp_path, emu, dialect))
    genuine_finish_is_confirmed_by_one_query(dialect, tmp_path, emu, receiver)


def test_confirmation_with_a_processing_worker(tmp_path: Path, emulator: Any, running: Running) -> None:
    """The worker process holds the callback (and tracks its task in the same transaction); the server's
    scheduler confirms it."""
    emu = emulator(EmulatorConfig(time_scale=0))
    receiver = running(confirm_settings(tmp_path, emu, "tencent-mps", processing="worker"))
    assert receiver.app.state.worker is not None
    genuine_finish_is_confirmed_by_one_query("tencent-mps", tmp_path, emu, receiver)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_forged_terminal_callback_is_refused_and_the_real_outcome_comes_by_polling(
    dialect: str, tmp_path: Path, emulator: Any, running: Running, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    receiver = running(confirm_settings(tmp_path, emu, dialect))
    kind = SURFACES[dialect].kinds[0]
    # The target task is processing at the provider, and its own callbacks are lost on the way.
    target = emu.create(dialect, kind=kind, scenario="fail", callback_url=NOWHERE, faults=DROPPED)
    emu.advance(target["task_id"], "PROCESSING")
    key = receiver_task_id(dialect, target)
    # A genuine "finished, success" callback of another task, rewritten to name the target: a forgery.
    donor = emu.create(dialect, kind=kind, scenario="success", callback_url=sink.url("/donor"))
    emu.finish(donor["task_id"])
    wait_until(lambda: any(is_terminal(dialect, r) for r in sink.at("/donor")))
    [genuine] = [r for r in sink.at("/donor") if is_terminal(dialect, r)]
    forged = forge(genuine.body, donor, target)
    assert forged != genuine.body

    with receiver.client() as http:
        answer = http.post(f"/callbacks/{dialect}", content=forged, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    capture_id = answer.json()["capture_id"]

    def capture() -> dict[str, Any]:
        with receiver.client() as http:
            found: dict[str, Any] = http.get(f"/api/captures/{capture_id}").json()
        return found

    wait_until(lambda: capture()["state"] == "refused")
    reason = capture()["error"]
    assert key in reason and "callback says finished/success" in reason and "provider says processing" in reason
    with receiver.client() as http:
        refused = http.get("/api/captures", params={"state": "refused", "source": dialect}).json()["items"]
    assert [c["id"] for c in refused] == [capture_id]  # what `vodhook reprocess --refused` picks up
    # not applied, not forwarded
    state = receiver_task(receiver, dialect, key)
    assert state is not None and state["status"] == "processing"  # what the provider answered
    claimed = [e for e in receiver_events(receiver, key) if e["origin"] == "callback"]
    assert [(e["status"], e["outcome"], e["effect"]) for e in claimed] == [("finished", "success", "unconfirmed")]
    assert terminal_messages(tmp_path, key) == []
    assert metric(scrape(receiver), "vodhook_unconfirmed_callbacks_total") == 1.0
    [warning] = [r for r in caplog.records if r.name == "vodhook.fallback" and "not confirmed" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert f"capture {capture_id} refused" in warning.getMessage() and reason in warning.getMessage()
    assert forged.decode() not in warning.getMessage()
    watch = tracked(receiver, key)
    assert watch is not None and (watch["state"], watch["via"]) == ("open", "confirm")

    # The task really ends (its callback lost): the fallback's next poll applies the real outcome.
    emu.finish(target["task_id"])
    wait_until(finished_with(receiver, dialect, key, SCENARIO_OUTCOME["fail"]))
    wait_until(lambda: len(terminal_messages(tmp_path, key)) >= 1)
    wait_until(lambda: (tracked(receiver, key) or {}).get("state") == "recovered")
    [terminal] = terminal_messages(tmp_path, key)
    assert (terminal["event"]["origin"], terminal["task"]["outcome"]) == ("poll", "failed")
    assert capture()["state"] == "refused"  # the forgery stays refused
    assert metric(scrape(receiver), "vodhook_unconfirmed_callbacks_total") == 1.0
    assert emu.ledger()["summary"]["delivered"] >= 1  # the donor's; none of the target's
    assert not [e for e in emu.entries("delivered") if str(e["task_id"]) == target["task_id"]]


@pytest.mark.parametrize("dialect", ["tencent-vod-v3", "aliyun-vod"])
def test_a_source_without_confirm_applies_a_terminal_callback_at_once_without_a_query(
    dialect: str, tmp_path: Path, emulator: Any, running: Running
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    receiver = running(confirm_settings(tmp_path, emu, dialect, confirm=False))
    created = emu.create(dialect, kind=SURFACES[dialect].kinds[0], scenario="success",
                         callback_url=f"{receiver.url}/callbacks/{dialect}")
    key = receiver_task_id(dialect, created)
    emu.finish(created["task_id"])

    wait_until(finished_with(receiver, dialect, key, "success"))
    wait_until(lambda: len(terminal_messages(tmp_path, key)) >= 1)
    state = receiver_task(receiver, dialect, key)
    assert state is not None and state["last_origin"] == "callback"
    assert {e["effect"] for e in receiver_events(receiver, key)} == {"applied"}
    [terminal] = terminal_messages(tmp_path, key)
    assert terminal["event"]["origin"] == "callback"
    # never held, so never made due: no confirmation row, and no query
    watch = tracked(receiver, key)
    assert watch is None or (watch["via"], watch["state"]) == ("event", "done"), watch
    assert task_queries(emu, dialect) == {}
    assert [q for q in emu.entries("query")] == []


def test_confirm_without_the_sources_fallback_credentials_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "vodhook.toml"
    config.write_text(
        '[sources.mymps]\ndialect = "tencent-mps"\nconfirm = true\n\n[fallback]\nenabled = true\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "sources.mymps.confirm" in message and "[fallback.sources.mymps]" in message
    assert str(config) in message

    with pytest.raises(ConfigError, match=r"sources\.mymps\.confirm: .*fallback\.enabled = true"):
        load_settings(
            sources={"mymps": {"dialect": "tencent-mps", "confirm": True}},
            fallback={"sources": {"mymps": {"secret_id": "id", "secret_key": "key"}}},
        )
    with pytest.raises(ConfigError, match=r"sources\.any\.confirm: .*not 'auto'"):
        load_settings(
            sources={"any": {"dialect": "auto", "confirm": True}},
            fallback={"enabled": True, "sources": {"any": {"secret_id": "id", "secret_key": "key"}}},
        )
    settings = load_settings(
        sources={"mymps": {"dialect": "tencent-mps", "confirm": True}},
        fallback={"enabled": True, "sources": {"mymps": {"secret_id": "id", "secret_key": "key"}}},
    )
    assert settings.sources["mymps"].confirm


def test_a_flood_of_unconfirmed_callbacks_is_counted_in_full_and_warned_about_once_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        sources={"mps": {"dialect": "tencent-mps", "confirm": True}},
        fallback={"enabled": True, "sources": {"mps": {"secret_id": "id", "secret_key": "key"}}},
    )
    clock = SystemClock()
    fallback = Fallback(settings, Pipeline(SqliteStore(settings.sqlite_path, clock=clock), settings.sources, clock),
                        clock)
    refused = [Confirmation(f"e{n}", n, Effect.UNCONFIRMED, f"not confirmed: task t{n}") for n in range(5)]
    caplog.set_level(logging.WARNING, logger="vodhook.fallback")
    fallback._unconfirmed([Confirmation("ok", 9, Effect.CONFIRMED), *refused])
    assert fallback.stats.unconfirmed == 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "vodhook.fallback"]
    assert warnings == ["callback not confirmed, capture 0 refused: not confirmed: task t0"]
    fallback._warned_at = time.monotonic() - UNCONFIRMED_WARN_EVERY_S  # a second later
    fallback._unconfirmed(refused[:1])
    assert fallback.stats.unconfirmed == 6
    assert [r.getMessage() for r in caplog.records if r.name == "vodhook.fallback"][1:] == [
        "callback not confirmed, capture 0 refused: not confirmed: task t0 (4 more since the last warning)"
    ]
    asyncio.run(fallback.stop())  # closes its query clients

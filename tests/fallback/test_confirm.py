"""Confirming terminal callbacks (`sources.<name>.confirm`), end to end: a real emulator, a real receiver over
HTTP, a JSON Lines sink. A terminal callback of a confirming source is held until one query of the provider
confirms it; a forged one is never applied nor forwarded, and its capture ends refused with the reason."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver import dialects
from receiver.clock import ManualClock, SystemClock
from receiver.config import ConfigError, Settings, load_settings
from receiver.dialects.base import NormalizeContext
from receiver.emulator.config import EmulatorConfig
from receiver.fallback.scheduler import HELD_RECHECK_S, UNCONFIRMED_WARN_EVERY_S, Fallback
from receiver.ingest import Pipeline
from receiver.model import Origin, Status
from receiver.store.base import CaptureState, Confirmation, Effect, TrackState
from receiver.store.sqlite import SqliteStore
from tests.conftest import FIXTURES, RunningReceiver
from tests.emulator.conftest import Control, Received, Sink
from tests.fallback.conftest import (
    DIALECTS,
    SCENARIO_OUTCOME,
    SURFACES,
    Rig,
    make_rig,
    receiver_events,
    receiver_task,
    receiver_task_id,
    task_queries,
    tracked,
    wait_until,
)
from tests.store.conftest import Place, place  # noqa: F401  (the fixture, re-exported)

Running = Callable[..., RunningReceiver]
NOWHERE = "http://127.0.0.1:9/callbacks"
DROPPED = {"drop": 1.0}  # the emulator's books show the callback, nothing is sent


def confirm_settings(
    tmp_path: Path,
    emu: Control,
    dialect: str,
    *,
    confirm: bool = True,
    grace_s: float | None = None,
    pacing: dict[str, float] | None = None,
    **overrides: Any,
) -> Settings:
    """One source for `dialect` (confirming or not; `grace_s`: its `confirm_grace_s`), a JSON Lines sink, and the
    fallback pointed at the emulator with no sweep and a far deadline: the only queries are the confirmations (and
    the polls after them). `pacing` overrides the fallback's short test waits (tick_s, backoff_*)."""
    source: dict[str, Any] = {"dialect": dialect, "confirm": confirm}
    if grace_s is not None:
        source["confirm_grace_s"] = grace_s
    return load_settings(
        data_dir=tmp_path / "data",
        sources={dialect: source},
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
            **(pacing or {}),
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
    # a short grace: the provider's "processing" refutes the callback only once it still says so 1 s after it
    receiver = running(confirm_settings(tmp_path, emu, dialect, grace_s=1.0))
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
    assert key in reason and "callback says finished/success" in reason
    assert "provider still says processing" in reason and reason.endswith(" 1 s after the callback")
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
    created = emu.create(
        dialect, kind=SURFACES[dialect].kinds[0], scenario="success", callback_url=f"{receiver.url}/callbacks/{dialect}"
    )
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


def test_the_grace_defaults_to_two_minutes_and_a_bad_one_is_a_config_error_naming_key_and_value() -> None:
    assert load_settings(sources={"mps": {"dialect": "tencent-mps"}}).sources["mps"].confirm_grace_s == 120.0
    for bad in (-1.0, float("inf"), "soon"):
        with pytest.raises(ConfigError) as raised:
            load_settings(sources={"mps": {"dialect": "tencent-mps", "confirm_grace_s": bad}})
        assert "sources.mps.confirm_grace_s: " in str(raised.value) and f"(got {bad!r})" in str(raised.value)


def test_a_flood_of_unconfirmed_callbacks_is_counted_in_full_and_warned_about_once_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        sources={"mps": {"dialect": "tencent-mps", "confirm": True}},
        fallback={"enabled": True, "sources": {"mps": {"secret_id": "id", "secret_key": "key"}}},
    )
    clock = SystemClock()
    fallback = Fallback(
        settings, Pipeline(SqliteStore(settings.sqlite_path, clock=clock), settings.sources, clock), clock
    )
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


# the grace: the provider's task API may lag behind its own callback ------------------------------------------
# A scheduler with a ManualClock over each store (SQLite, PostgreSQL), the emulator's clock frozen: a callback of
# the legacy VOD dialect that says a task finished, while the emulator's task query still says it is processing
# (exactly what a provider whose task API lags its callback looks like), or does not know it, or says otherwise.

LEGACY = "tencent-vod-v2"
GRACE_S = 120.0
#: The fallback's production pacing: a task still running is asked again after its age, 30 s at least.
PRODUCTION_PACING = {"tick_s": 1.0, "backoff_base_s": 30.0, "backoff_max_s": 1800.0}


@asynccontextmanager
async def grace_rig(tmp_path: Path, emu: Control, place: Place) -> AsyncIterator[tuple[Rig, ManualClock]]:  # noqa: F811
    clock = ManualClock(datetime.now(UTC))
    settings = confirm_settings(tmp_path, emu, LEGACY, grace_s=GRACE_S, pacing=PRODUCTION_PACING)
    rig = await make_rig(settings, place.make(clock), clock)
    try:
        yield rig, clock
    finally:
        await rig.fallback.stop()
        await rig.store.close()


def processing_task(emu: Control, scenario: str = "success") -> str:
    """An emulator task running now (its own callbacks lost on the way); its id."""
    created = emu.create(LEGACY, kind="transcode", scenario=scenario, callback_url=NOWHERE, faults=DROPPED)
    emu.advance(created["task_id"], "PROCESSING")
    return str(created["task_id"])


async def finished_callback(rig: Rig, task_id: str, received_at: datetime, *, failed: bool = False) -> int:
    """A "transcode finished" callback of `task_id` (success, or failed), received at `received_at`: held; its
    capture id."""
    fixture = "TranscodeComplete__failed.json" if failed else "TranscodeComplete.json"
    document = json.loads((FIXTURES / LEGACY / fixture).read_text(encoding="utf-8"))
    document["data"]["vodTaskId"] = task_id
    applied = await rig.fallback.pipeline.ingest_document(
        LEGACY, document, json.dumps(document).encode(), Origin.CALLBACK, received_at=received_at
    )
    [held] = [item for item in applied if item.effect is Effect.HELD]
    assert held.event.capture_id is not None
    return held.event.capture_id


async def callback_effect(rig: Rig, task_id: str) -> Effect:
    [callback] = [s for s in await rig.store.task_events("tencent-vod", task_id) if s.event.origin is Origin.CALLBACK]
    return callback.effect


async def capture_of(rig: Rig, capture_id: int) -> tuple[CaptureState, str | None]:
    capture = await rig.store.get_capture(capture_id)
    assert capture is not None
    return capture.state, capture.error


@pytest.mark.anyio
async def test_a_callback_the_provider_has_not_caught_up_with_stays_held_and_the_next_answer_confirms_it(
    tmp_path: Path,
    place: Place,  # noqa: F811
    emulator: Any,
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    task_id = processing_task(emu)
    async with grace_rig(tmp_path, emu, place) as (rig, clock):
        start = clock.now()
        capture_id = await finished_callback(rig, task_id, start)

        assert await rig.fallback.run_pass() == 1  # the provider still says processing: within the grace
        assert await callback_effect(rig, task_id) is Effect.HELD
        assert await capture_of(rig, capture_id) == (CaptureState.PROCESSED, None)
        assert rig.fallback.stats.unconfirmed == 0
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.state is TrackState.OPEN
        assert watch.next_check_at == start + timedelta(seconds=HELD_RECHECK_S)  # soon: not the 30 s of a poll
        task = await rig.store.get_task("tencent-vod", task_id)
        assert task is not None and task.status is Status.PROCESSING  # the provider's word, nothing forwarded

        emu.finish(task_id)  # the provider's task API catches up
        clock.advance(HELD_RECHECK_S)
        assert await rig.fallback.run_pass() == 1
        assert await callback_effect(rig, task_id) is Effect.CONFIRMED
        assert await capture_of(rig, capture_id) == (CaptureState.PROCESSED, None)
        task = await rig.store.get_task("tencent-vod", task_id)
        assert task is not None and (task.status, task.outcome) == (Status.FINISHED, "success")
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.state is TrackState.DONE  # the callback did come: not "recovered"
        assert task_queries(emu, LEGACY) == {task_id: 2}
        assert rig.fallback.stats.unconfirmed == 0


@pytest.mark.anyio
async def test_a_provider_that_keeps_saying_processing_refutes_the_callback_only_after_the_grace_in_few_queries(
    tmp_path: Path,
    place: Place,  # noqa: F811
    emulator: Any,
) -> None:
    """The callback comes in while the first question is out (asked again at once, for it), then the provider
    lags: over a whole grace of scheduler ticks the task is asked a handful of times, not once a tick, and the
    first answer after the grace refuses the callback."""
    emu = emulator(EmulatorConfig(time_scale=0, enforce_rate_limits=False))  # its clock is frozen: count, not limit
    task_id = processing_task(emu)
    async with grace_rig(tmp_path, emu, place) as (rig, clock):
        start = clock.now()
        arrived = start + timedelta(seconds=0.5)  # while the question asked at `start` is out
        capture_id = await finished_callback(rig, task_id, arrived)
        assert await rig.fallback.run_pass() == 1
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.next_check_at == start  # asked again at once: no answer judged it yet

        clock.set(start + timedelta(seconds=1))  # the answer is back; a scheduler tick every second from here
        passes = 0
        while clock.now() < arrived + timedelta(seconds=GRACE_S):
            await rig.fallback.run_pass()
            passes += 1
            assert await callback_effect(rig, task_id) is Effect.HELD
            assert await capture_of(rig, capture_id) == (CaptureState.PROCESSED, None)
            clock.advance(PRODUCTION_PACING["tick_s"])
        within = task_queries(emu, LEGACY)[task_id]
        # asked at 0 and 1 s, then whenever the callback's age has doubled (at about 6, 12, 24, 48 and 96 s), the
        # wait after that one cut short at the end of the grace: a handful of queries, not one per tick (120)
        assert passes >= GRACE_S - 1
        assert 3 <= within <= 8, within

        for _ in range(3):  # the first answer after the grace settles it
            await rig.fallback.run_pass()
            clock.advance(PRODUCTION_PACING["tick_s"])
        assert await callback_effect(rig, task_id) is Effect.UNCONFIRMED
        state, reason = await capture_of(rig, capture_id)
        assert state is CaptureState.REFUSED and reason is not None
        assert f"task {task_id} (tencent-vod): the callback says finished/success" in reason
        assert "the provider still says processing" in reason and reason.endswith(" 120 s after the callback")
        assert task_queries(emu, LEGACY)[task_id] == within + 1
        assert rig.fallback.stats.unconfirmed == 1
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.state is TrackState.OPEN  # polled until it really ends


@pytest.mark.anyio
async def test_a_callback_stamped_ahead_of_the_schedulers_clock_is_asked_about_at_once_only_once(
    tmp_path: Path,
    place: Place,  # noqa: F811
    emulator: Any,
) -> None:
    """Another replica, its clock 10 s fast, received the callback: to this scheduler it looks newer than every
    question for 10 s. It is asked about again at once one time, then at the pace of a lagging provider, not
    at every tick until the clocks meet."""
    emu = emulator(EmulatorConfig(time_scale=0, enforce_rate_limits=False))  # its clock is frozen: count, not limit
    task_id = processing_task(emu)
    async with grace_rig(tmp_path, emu, place) as (rig, clock):
        start = clock.now()
        await finished_callback(rig, task_id, start + timedelta(seconds=10))
        assert await rig.fallback.run_pass() == 1
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.next_check_at == start  # at once, as for a callback the question missed

        for _ in range(10):  # a scheduler tick every second until the clocks meet
            clock.advance(PRODUCTION_PACING["tick_s"])
            await rig.fallback.run_pass()
            assert await callback_effect(rig, task_id) is Effect.HELD
        # asked at 0 s, once more at once (1 s), then after HELD_RECHECK_S (6 s): not at each of the 11 ticks
        assert task_queries(emu, LEGACY)[task_id] == 3
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.next_check_at == start + timedelta(seconds=1 + 2 * HELD_RECHECK_S)


@pytest.mark.anyio
async def test_not_found_within_the_grace_leaves_the_callback_held_and_refutes_it_after(
    tmp_path: Path,
    place: Place,  # noqa: F811
    emulator: Any,
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    task_id = "Transcode-" + "0" * 32  # the provider has not indexed it (yet)
    async with grace_rig(tmp_path, emu, place) as (rig, clock):
        start = clock.now()
        capture_id = await finished_callback(rig, task_id, start)
        assert await rig.fallback.run_pass() == 1
        assert await callback_effect(rig, task_id) is Effect.HELD
        assert await capture_of(rig, capture_id) == (CaptureState.PROCESSED, None)
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.state is TrackState.OPEN and watch.last_error is not None
        assert watch.next_check_at == start + timedelta(seconds=HELD_RECHECK_S)  # soon: not the error backoff

        clock.set(start + timedelta(seconds=GRACE_S))
        assert await rig.fallback.run_pass() == 1
        assert await callback_effect(rig, task_id) is Effect.UNCONFIRMED
        state, reason = await capture_of(rig, capture_id)
        assert state is CaptureState.REFUSED and reason is not None
        assert "the provider still says not found" in reason and reason.endswith(" 120 s after the callback")
        assert rig.fallback.stats.unconfirmed == 1


@pytest.mark.anyio
async def test_an_answer_finished_with_another_outcome_refutes_the_callback_at_once(
    tmp_path: Path,
    place: Place,  # noqa: F811
    emulator: Any,
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0))
    task_id = processing_task(emu, scenario="fail")
    emu.finish(task_id)
    async with grace_rig(tmp_path, emu, place) as (rig, clock):
        capture_id = await finished_callback(rig, task_id, clock.now())  # "success", says the callback
        assert await rig.fallback.run_pass() == 1
        assert await callback_effect(rig, task_id) is Effect.UNCONFIRMED  # no grace for a contradiction
        state, reason = await capture_of(rig, capture_id)
        assert state is CaptureState.REFUSED and reason is not None
        assert "the callback says finished/success" in reason and "the provider says finished/failed" in reason
        task = await rig.store.get_task("tencent-vod", task_id)
        assert task is not None and (task.status, task.outcome) == (Status.FINISHED, "failed")
        watch = await rig.store.get_tracked("tencent-vod", task_id)
        assert watch is not None and watch.state is TrackState.RECOVERED  # the provider's word, not the callback's
        assert task_queries(emu, LEGACY) == {task_id: 1}

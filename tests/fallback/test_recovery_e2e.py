"""End to end, per dialect: an emulator that loses callbacks, a receiver that finds and recovers every task by
querying, within the provider's retention window and its own rate limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_tea_openapi import models as open_api_models  # type: ignore[import-untyped]
from alibabacloud_vod20170321 import models as aliyun_models  # type: ignore[import-untyped]
from alibabacloud_vod20170321.client import Client as AliyunClient  # type: ignore[import-untyped]
from tencentcloud.common import credential  # type: ignore[import-untyped]
from tencentcloud.common.profile.client_profile import ClientProfile  # type: ignore[import-untyped]
from tencentcloud.common.profile.http_profile import HttpProfile  # type: ignore[import-untyped]
from tencentcloud.mps.v20190612 import models as mps_models  # type: ignore[import-untyped]
from tencentcloud.mps.v20190612.mps_client import MpsClient  # type: ignore[import-untyped]
from tencentcloud.vod.v20180717 import models as vod_models  # type: ignore[import-untyped]
from tencentcloud.vod.v20180717.vod_client import VodClient  # type: ignore[import-untyped]

from receiver.clock import SystemClock
from receiver.emulator.config import EmulatorConfig
from tests.conftest import RunningReceiver
from tests.emulator.conftest import Control
from tests.fallback.conftest import (
    DIALECTS,
    SCENARIO_OUTCOME,
    SURFACES,
    busiest_window,
    fallback_settings,
    ledger_time,
    plan,
    receiver_events,
    receiver_task,
    receiver_task_id,
    task_queries,
    tracked,
    wait_until,
)

Running = Callable[..., RunningReceiver]
NOWHERE = "http://127.0.0.1:9/callbacks"  # a callback URL for tasks whose callbacks are all dropped anyway


def create_tasks(emu: Control, dialect: str, count: int, callback_url: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        {**emu.create(dialect, kind=kind, scenario=scenario, callback_url=callback_url, **fields), "scenario": scenario}
        for kind, scenario in plan(dialect, count)
    ]


def all_finished(receiver: RunningReceiver, dialect: str, created: list[dict[str, Any]]) -> Callable[[], bool]:
    def check() -> bool:
        states = [receiver_task(receiver, dialect, receiver_task_id(dialect, t)) for t in created]
        return all(s is not None and s["status"] == "finished" for s in states)

    return check


@pytest.mark.parametrize("dialect", DIALECTS)
def test_all_callbacks_dropped_sweep_finds_every_task_and_one_query_recovers_it(
    dialect: str, tmp_path: Path, emulator: Any, running: Running
) -> None:
    # The emulator's clock runs: its rate limits count calls on it, and on a frozen clock the sweep's listing
    # calls (one every sweep_interval_s) would use up Alibaba's 15 a second for good after 15 sweeps, which a
    # slow run reaches before the tasks are all found.
    emu = emulator(EmulatorConfig(time_scale=1.0, faults={"drop": 1.0}))
    # The tasks finish while the receiver is away (or their callbacks are lost: the same to it), so it can learn
    # of them only by listing the provider's tasks.
    created = create_tasks(emu, dialect, 7, NOWHERE)
    for task in created:
        emu.finish(task["task_id"])
    receiver = running(fallback_settings(tmp_path, emu, dialect))

    wait_until(all_finished(receiver, dialect, created))
    for task in created:
        key = receiver_task_id(dialect, task)
        state = receiver_task(receiver, dialect, key)
        assert state is not None
        assert state["outcome"] == SCENARIO_OUTCOME[task["scenario"]], (task, state)
        assert state["last_origin"] == "poll"
        assert {e["origin"] for e in receiver_events(receiver, key)} == {"poll"}
        watch = tracked(receiver, key)
        assert watch is not None and (watch["via"], watch["state"]) == ("sweep", "recovered"), watch
    summary = emu.ledger()["summary"]
    assert summary["published"] > 0 and summary["delivered"] == 0  # nothing came by callback
    queries = emu.entries("query")
    assert all(q["detail"]["outcome"] == "ok" for q in queries), [q for q in queries if q["detail"]["outcome"] != "ok"]
    assert {q["detail"]["action"] for q in queries} == {SURFACES[dialect].query, *SURFACES[dialect].listing}
    # every task was already finished when found: one query each, no more
    assert task_queries(emu, dialect) == Counter({t["task_id"]: 1 for t in created})
    with receiver.client() as http:
        scraped = http.get("/metrics").text
    assert f"vodhook_fallback_recovered_total {float(len(created))}" in scraped
    assert "vodhook_fallback_overdue 0.0" in scraped


@pytest.mark.parametrize("dialect", DIALECTS)
def test_lossy_duplicated_reordered_callbacks_every_task_ends_right_and_only_the_lost_are_queried(
    dialect: str, tmp_path: Path, emulator: Any, running: Running
) -> None:
    emu = emulator(
        EmulatorConfig(time_scale=1.0, reorder_hold_s=0.2, faults={"drop": 0.3, "duplicate": 0.2, "reorder": 0.2})
    )
    # The deadline leaves a delivered callback time to be processed first, even on a loaded machine.
    receiver = running(fallback_settings(tmp_path, emu, dialect, deadline_s=6.0))
    created = create_tasks(
        emu,
        dialect,
        12,
        f"{receiver.url}/callbacks/{dialect}",
        notify_mode="Change",
        durations={"waiting_s": 0.1, "processing_s": 0.6},
    )

    wait_until(all_finished(receiver, dialect, created))
    emu.settle()
    for task in created:
        state = receiver_task(receiver, dialect, receiver_task_id(dialect, task))
        assert state is not None and state["outcome"] == SCENARIO_OUTCOME[task["scenario"]], (task, state)
    summary = emu.ledger()["summary"]
    assert summary["dropped"] > 0 and summary["delivered"] > 0 and summary["faults"].get("duplicate", 0) > 0
    assert all(q["detail"]["outcome"] == "ok" for q in emu.entries("query"))

    # Which tasks' last callback (the one that finishes them) reached the receiver, per the emulator's books.
    last: dict[str, str] = {}
    for entry in emu.entries("published"):
        last[str(entry["task_id"])] = str(entry["notification_id"])
    delivered = {str(e["notification_id"]) for e in emu.entries("delivered")}
    came = {t["task_id"] for t in created if last[t["task_id"]] in delivered}
    lost = {t["task_id"] for t in created} - came
    assert came and lost  # the seed gives both kinds
    queried = task_queries(emu, dialect)
    assert not came & set(queried), {t: queried[t] for t in came & set(queried)}  # a callback finished them
    assert lost <= set(queried)
    for task in created:
        watch = tracked(receiver, receiver_task_id(dialect, task))
        if task["task_id"] in came:  # closed by its callback (untracked: the callback was its first sign of life)
            assert watch is None or watch["state"] == "done", (task, watch)
        else:
            assert watch is not None and watch["state"] == "recovered", (task, watch)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_tasks_past_the_retention_window_end_lost_an_unknown_young_one_stays_open_new_ones_are_found(
    dialect: str, tmp_path: Path, emulator: Any, running: Running
) -> None:
    retention_s = SURFACES[dialect].retention_s
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    clock = SystemClock()
    receiver = running(fallback_settings(tmp_path, emu, dialect), clock)

    # 1. Found by the sweep while it runs, queried (not finished), then the provider forgets it.
    aging = emu.create(dialect, kind=SURFACES[dialect].kinds[0], callback_url=NOWHERE)
    aging_id = receiver_task_id(dialect, aging)
    wait_until(lambda: (tracked(receiver, aging_id) or {}).get("attempts", 0) >= 1)
    assert tracked(receiver, aging_id)["state"] == "open"  # type: ignore[index]
    emu.clock(advance_s=retention_s + 3600.0)
    clock.offset += timedelta(seconds=retention_s + 3600.0)
    wait_until(lambda: (tracked(receiver, aging_id) or {}).get("state") == "lost")
    # The tasks that left the window do not hide new ones from the sweep (a legacy offset cursor did).
    fresh = emu.create(dialect, kind=SURFACES[dialect].kinds[0], callback_url=NOWHERE)
    emu.finish(fresh["task_id"])
    wait_until(lambda: (tracked(receiver, receiver_task_id(dialect, fresh)) or {}).get("state") == "recovered")

    # 2. Registered by the user long after its creation: the provider no longer has it.
    old = emu.create(dialect, kind=SURFACES[dialect].kinds[0], callback_url=NOWHERE, age_s=retention_s + 3600.0)
    old_id = receiver_task_id(dialect, old)
    # 3. Registered right away but not (yet) known to the provider: the same "not found", inside the window.
    young_id = "transcode:never-indexed-yet" if dialect == "aliyun-vod" else "never-indexed-yet"
    with receiver.client() as http:
        for task_id, created_at in ((old_id, old["created_at"]), (young_id, None)):
            answer = http.post(
                "/api/tasks", json={"source": dialect, "task_id": task_id, "created_at": created_at, "deadline_s": 0}
            )
            assert answer.status_code == 201, answer.text
    wait_until(lambda: (tracked(receiver, old_id) or {}).get("state") == "lost")
    # ... is not enough: it stays open, asked again with backoff
    wait_until(lambda: (tracked(receiver, young_id) or {}).get("attempts", 0) >= 2)
    assert tracked(receiver, young_id)["state"] == "open"  # type: ignore[index]
    with receiver.client() as http:
        scraped = http.get("/metrics").text
    assert "vodhook_fallback_lost_total 2.0" in scraped
    refusals = [q for q in emu.entries("query") if q["detail"]["outcome"] != "ok"]
    assert refusals and all(
        "NotFound" in q["detail"]["outcome"]
        or "NoSuchResource" in q["detail"]["outcome"]
        or q["detail"]["outcome"] == "error:70014"
        for q in refusals
    ), refusals


@pytest.mark.parametrize("dialect", DIALECTS)
def test_queries_stay_within_the_configured_rate_limit(
    dialect: str, tmp_path: Path, emulator: Any, running: Running
) -> None:
    rate, burst = 2.0, 2.0
    emu = emulator(EmulatorConfig(time_scale=1.0, faults={"drop": 1.0}))
    receiver = running(
        fallback_settings(tmp_path, emu, dialect, sweep_interval_s=2.0, source={"rate_per_s": rate, "burst": burst})
    )
    created = create_tasks(emu, dialect, 8, NOWHERE, durations={"waiting_s": 0.0, "processing_s": 0.2})

    wait_until(all_finished(receiver, dialect, created))
    for task in created:
        state = receiver_task(receiver, dialect, receiver_task_id(dialect, task))
        assert state is not None and state["outcome"] == SCENARIO_OUTCOME[task["scenario"]], (task, state)
    queries = emu.entries("query")
    assert all(q["detail"]["outcome"] == "ok" for q in queries), [q for q in queries if q["detail"]["outcome"] != "ok"]
    assert all(q["detail"]["caller"] == "test" for q in queries)
    # A token bucket of `rate`/s holding `burst` lets at most burst + rate requests into any one second.
    times = sorted(ledger_time(q) for q in queries)
    busiest = busiest_window(times)
    assert busiest <= rate + burst, (busiest, [t.isoformat() for t in times])
    # ... and the bucket did hold queries back: the limit was reached, not merely never approached.
    bucket = receiver.app.state.fallback.sources[dialect].bucket
    assert bucket.waits > 0
    assert len(queries) > (rate + burst) * 2


def test_the_sweeps_listings_answer_the_official_sdks_with_their_time_filters(emulator: Any) -> None:
    """The listing calls the sweep relies on, made by the official SDKs: Alibaba GetVideoList (the way to the
    VideoIds ListTranscodeTask needs), VOD 3.0 DescribeTasks with CreateTime.After, MPS DescribeTasks with
    StartTime; tasks created before the cut are left out, after it are listed (a cut is inclusive)."""
    emu = emulator(EmulatorConfig(time_scale=0))
    before = {d: emu.create(d, kind=SURFACES[d].kinds[0]) for d in ("aliyun-vod", "tencent-vod-v3", "tencent-mps")}
    moved = datetime.fromisoformat(emu.clock(advance_s=3600.0)["now"])
    cut = moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    after = {d: [emu.create(d, kind=SURFACES[d].kinds[0]) for _ in range(3)] for d in before}

    aliyun = AliyunClient(
        open_api_models.Config(
            access_key_id="test",
            access_key_secret="test",
            region_id="cn-shanghai",
            endpoint=emu.server.netloc,
            protocol="http",
        )
    )
    pages = [
        aliyun.get_video_list(
            aliyun_models.GetVideoListRequest(start_time=cut, sort_by="CreationTime:Asc", page_size=2, page_no=n)
        ).body
        for n in (1, 2)
    ]
    assert [p.total for p in pages] == [3, 3]
    listed = [v.video_id for p in pages for v in p.video_list.video]
    assert listed == [t["file_id"] for t in after["aliyun-vod"]]
    assert {v.status for p in pages for v in p.video_list.video} == {"Transcoding"}

    profile = ClientProfile(httpProfile=HttpProfile(endpoint=emu.server.netloc, protocol="http"))
    vod = VodClient(credential.Credential("test", "test"), "", profile)
    request = vod_models.DescribeTasksRequest()
    request.CreateTime = vod_models.TimeRange()
    request.CreateTime.After = cut
    request.Limit = 2
    first = vod.DescribeTasks(request)
    request.ScrollToken = first.ScrollToken
    second = vod.DescribeTasks(request)
    assert [t.TaskId for t in [*first.TaskSet, *second.TaskSet]] == [t["task_id"] for t in after["tencent-vod-v3"]]
    assert second.ScrollToken == ""

    mps = MpsClient(credential.Credential("test", "test"), "ap-guangzhou", profile)
    mps_request = mps_models.DescribeTasksRequest()
    mps_request.StartTime = cut
    answer = mps.DescribeTasks(mps_request)
    assert [t.TaskId for t in answer.TaskSet] == [t["task_id"] for t in reversed(after["tencent-mps"])]  # newest first
    assert answer.TotalCount == 3


def test_an_alibaba_task_registered_by_its_transcode_task_id_closes_with_the_videos_transcoding(
    tmp_path: Path, emulator: Any, running: Running
) -> None:
    """Alibaba's reports key a video's transcoding on `transcode:<VideoId>`; a task registered by its raw
    TranscodeTaskId is answered under that key, and its row follows that task: closed, not asked forever."""
    dialect = "aliyun-vod"
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    receiver = running(fallback_settings(tmp_path, emu, dialect, source={"sweep": False}))
    task = emu.create(dialect, kind="transcode", scenario="partial", callback_url=NOWHERE)
    emu.finish(task["task_id"])
    with receiver.client() as http:
        answer = http.post("/api/tasks", json={"source": dialect, "task_id": task["task_id"], "deadline_s": 0})
        assert answer.status_code == 201, answer.text

    wait_until(lambda: (tracked(receiver, task["task_id"]) or {}).get("state") != "open", timeout_s=30)
    watch = tracked(receiver, task["task_id"])
    assert watch is not None and (watch["state"], watch["attempts"]) == ("recovered", 1), watch
    state = receiver_task(receiver, dialect, receiver_task_id(dialect, task))
    assert state is not None and state["outcome"] == "partial" and state["last_origin"] == "poll"
    assert task_queries(emu, dialect) == Counter({task["task_id"]: 1})


def test_legacy_partial_tasks_end_the_same_by_polling_as_by_callback(
    tmp_path: Path, emulator: Any, running: Running
) -> None:
    """A legacy procedure with a failed sub-task ends `partial`, also when first queried while it ran. A legacy
    transcode reports only its successful renditions (TranscodeComplete and GetTaskInfo alike), so a partial one
    looks successful: by callback and by polling the same."""
    dialect = "tencent-vod-v2"
    emu = emulator(EmulatorConfig(time_scale=0))
    receiver = running(fallback_settings(tmp_path, emu, dialect))
    url = f"{receiver.url}/callbacks/{dialect}"
    ends: dict[tuple[str, str], dict[str, Any]] = {}
    for kind in ("procedure", "transcode"):
        heard = emu.create(dialect, kind=kind, scenario="partial", callback_url=url)
        lost = emu.create(dialect, kind=kind, scenario="partial", callback_url=url, faults={"drop": 1.0})
        emu.advance(lost["task_id"], "PROCESSING")
        # found by the sweep, asked while still running, then it finishes
        wait_until(lambda: (tracked(receiver, lost["task_id"]) or {}).get("attempts", 0) >= 1)  # noqa: B023
        for task in (heard, lost):
            emu.finish(task["task_id"])
        wait_until(all_finished(receiver, dialect, [heard, lost]))
        for origin, task in (("callback", heard), ("poll", lost)):
            state = receiver_task(receiver, dialect, task["task_id"])
            assert state is not None and state["last_origin"] == origin, (kind, origin, state)
            ends[kind, origin] = state
    assert ends["procedure", "poll"]["outcome"] == ends["procedure", "callback"]["outcome"] == "partial"
    assert ends["transcode", "poll"]["outcome"] == ends["transcode", "callback"]["outcome"] == "success"
    for kind in ("procedure", "transcode"):
        polled = sorted((o["key"], o["outcome"]) for o in ends[kind, "poll"]["outputs"])
        called = sorted((o["key"], o["outcome"]) for o in ends[kind, "callback"]["outputs"])
        assert polled == called, kind

"""Callback delivery: byte shape, signatures and each provider's retry policy, checked at a real sink."""

from __future__ import annotations

import hashlib
import json

import pytest

from receiver.emulator.config import Dialect
from tests.emulator.conftest import DIALECTS, Behaviour, EmulatorFactory, Sink, balanced, push_config, wait_for


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_every_dialect_calls_back_compact_and_signed(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, key="AbCd1234"))
    for dialect in DIALECTS:
        control.finish(control.create(dialect)["task_id"])
    summary = control.settle()["summary"]
    assert balanced(summary) and summary["published"] == summary["delivered"] == 1 + 1 + 1 + 4

    legacy = sink.at("/tencent-vod-v2")[0]
    assert legacy.body.startswith(b'{"version":"4.0","eventType":"ProcedureStateChanged","data":{')
    assert b" " not in legacy.body.replace(b'"message":""', b"")  # compact

    v3 = json.loads(sink.at("/tencent-vod-v3")[0].body)
    assert list(v3)[:3] == ["EventType", "FileUploadEvent", "ProcedureStateChangeEvent"]
    assert v3["Sign"] == md5(f"AbCd1234{v3['T']}")
    assert list(v3["ProcedureStateChangeEvent"]["MetaData"]) == sorted(v3["ProcedureStateChangeEvent"]["MetaData"])

    mps = json.loads(sink.at("/tencent-mps")[0].body)
    assert mps["Sign"] == md5(f"{mps['Timestamp']}AbCd1234")
    assert mps["EditMediaTaskEvent"] is None and mps["WorkflowTaskEvent"]["Status"] == "FINISH"

    first, *_, last = sink.at("/aliyun-vod")
    ts = last.headers["x-vod-timestamp"]
    assert last.headers["x-vod-signature"] == md5(f"{sink.url('/aliyun-vod')}|{ts}|AbCd1234")
    assert last.headers["user-agent"] == "Apache-HttpClient/4.4.1 (Java/1.8.0_152)"
    assert list(json.loads(last.body)) == ["Status", "VideoId", "EventType", "EventTime", "StreamInfos"]
    assert json.loads(first.body)["EventType"] == "StreamTranscodeComplete"


def test_unsigned_without_a_key(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink))
    for dialect in ("tencent-vod-v3", "tencent-mps", "aliyun-vod"):
        control.finish(control.create(dialect)["task_id"])
    control.settle()
    assert all(b'"Sign"' not in r.body and "x-vod-signature" not in r.headers for r in sink.received)


def test_legacy_ignores_the_status_code(emulator: EmulatorFactory, sink: Sink) -> None:
    sink.behaviours["/tencent-vod-v2"] = Behaviour(status=500)
    control = emulator(push_config(sink))
    control.finish(control.create("tencent-vod-v2")["task_id"])
    summary = control.settle()["summary"]
    assert (summary["attempts"], summary["delivered"]) == (1, 1)


def test_legacy_resends_twice_on_timeout(emulator: EmulatorFactory, sink: Sink) -> None:
    sink.behaviours["/tencent-vod-v2"] = Behaviour(delay_s=0.6)
    control = emulator(push_config(sink, timeout_s=0.2))
    control.finish(control.create("tencent-vod-v2")["task_id"])
    summary = control.settle()["summary"]
    assert (summary["attempts"], summary["delivered"], summary["dropped"]) == (3, 0, 1)
    assert [a["detail"]["error"] for a in control.entries("attempt")] == ["timeout"] * 3
    assert control.entries("dropped")[0]["detail"]["reason"] == "retries_exhausted"


def test_legacy_timeout_then_answer_counts_as_delivered(emulator: EmulatorFactory, sink: Sink) -> None:
    sink.behaviours["/tencent-vod-v2"] = Behaviour(delays=[0.6])
    control = emulator(push_config(sink, timeout_s=0.2))
    control.finish(control.create("tencent-vod-v2")["task_id"])
    summary = control.settle()["summary"]
    assert (summary["attempts"], summary["delivered"]) == (2, 1)


def test_aliyun_needs_http_200_and_retries_3_times(emulator: EmulatorFactory, sink: Sink) -> None:
    sink.behaviours["/aliyun-vod"] = Behaviour(statuses=[500, 302])
    control = emulator(push_config(sink, retry_interval_s=0.05))
    control.finish(control.create("aliyun-vod", outputs=[{}])["task_id"])
    summary = control.settle()["summary"]
    attempts = control.entries("attempt")
    assert [a["detail"]["status"] for a in attempts[:3]] == [500, 302, 200]
    assert summary["delivered"] == summary["published"] == 2 and balanced(summary)


def test_aliyun_drops_after_three_failures(emulator: EmulatorFactory, sink: Sink) -> None:
    sink.behaviours["/aliyun-vod"] = Behaviour(status=204)
    control = emulator(push_config(sink, retry_interval_s=0.01))
    control.finish(control.create("aliyun-vod", outputs=[{}])["task_id"])
    summary = control.settle()["summary"]
    assert (summary["attempts"], summary["dropped"], summary["delivered"]) == (6, 2, 0)


def test_unreachable_callback_url_is_dropped_after_the_policy(emulator: EmulatorFactory, sink: Sink) -> None:
    config = push_config(sink, retry_interval_s=0)
    config.dialects[Dialect.TENCENT_MPS].callback_url = "http://127.0.0.1:9/unreachable"  # discard port: refused
    control = emulator(config)
    control.finish(control.create("tencent-mps")["task_id"])
    summary = control.settle()["summary"]
    assert (summary["attempts"], summary["dropped"]) == (3, 1)
    assert all("ConnectError" in a["detail"]["error"] for a in control.entries("attempt"))


@pytest.mark.parametrize("kind", ["procedure", "transcode", "clip", "concat", "snapshot", "sprite"])
def test_tencent_event_types_per_kind(emulator: EmulatorFactory, sink: Sink, kind: str) -> None:
    control = emulator(push_config(sink))
    for dialect in ("tencent-vod-v2", "tencent-vod-v3"):
        control.finish(control.create(dialect, kind=kind, scenario="partial")["task_id"])
    control.settle()
    legacy = json.loads(sink.at("/tencent-vod-v2")[0].body)
    v3 = json.loads(sink.at("/tencent-vod-v3")[0].body)
    assert legacy["eventType"] == v3["EventType"]
    assert [k for k, v in v3.items() if isinstance(v, dict)] != []


def test_change_mode_procedure_notifies_start_each_output_and_finish(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, notify_mode="Change"))
    task = control.create("tencent-vod-v2", outputs=[{}, {}, {}])
    control.advance(task["task_id"])
    control.clock(advance_s=60)
    control.settle()
    states = [json.loads(r.body)["data"]["status"] for r in sink.at("/tencent-vod-v2")]
    assert states == ["PROCESSING"] * 4 + ["FINISH"]


def test_time_scale_moves_tasks_without_help(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, time_scale=50.0))
    control.create("aliyun-vod", durations={"waiting_s": 1, "processing_s": 4})
    wait_for(lambda: len(sink.at("/aliyun-vod")) == 4)
    assert json.loads(sink.at("/aliyun-vod")[-1].body)["EventType"] == "TranscodeComplete"

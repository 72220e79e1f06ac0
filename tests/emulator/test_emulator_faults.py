"""Every fault mode, reproducible from a seed; each test checks the ledger balances
(published == delivered + dropped) and that the fault shows in what the sink (or the client) got."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException  # type: ignore[import-untyped]
from tencentcloud.common import credential  # type: ignore[import-untyped]
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException  # type: ignore[import-untyped]
from tencentcloud.common.profile.client_profile import ClientProfile  # type: ignore[import-untyped]
from tencentcloud.common.profile.http_profile import HttpProfile  # type: ignore[import-untyped]
from tencentcloud.mps.v20190612 import models as mps_models  # type: ignore[import-untyped]
from tencentcloud.mps.v20190612.mps_client import MpsClient  # type: ignore[import-untyped]

from receiver.emulator.config import DialectConfig, EmulatorConfig
from receiver.emulator.faults import FaultSpec, plan_callback
from tests.emulator.conftest import Control, EmulatorFactory, Sink, balanced, push_config
from tests.emulator.test_emulator_sdk_aliyun import old_sdk_get


def faults_applied(control: Control) -> list[str]:
    return [e["detail"]["fault"] for e in control.entries("fault")]


def run_one_of_each(control: Control) -> dict[str, Any]:
    for dialect in ("tencent-vod-v2", "tencent-vod-v3", "tencent-mps", "aliyun-vod"):
        control.finish(control.create(dialect, outputs=[{}])["task_id"])
    summary: dict[str, Any] = control.settle()["summary"]
    assert balanced(summary), summary
    return summary


def test_drop(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, faults=FaultSpec(drop=1.0)))
    summary = run_one_of_each(control)
    assert sink.received == []
    assert summary["dropped"] == summary["published"] == 5 and summary["delivered"] == 0
    assert faults_applied(control) == ["drop"] * 5
    assert {e["detail"]["reason"] for e in control.entries("dropped")} == {"fault:drop"}


def test_duplicate(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, faults=FaultSpec(duplicate=1.0)))
    summary = run_one_of_each(control)
    assert summary["delivered"] == summary["published"] == 5
    assert len(sink.received) == 10
    for path in {r.path for r in sink.received}:
        bodies = [r.body for r in sink.at(path)]
        assert bodies[0::2] == bodies[1::2]  # each callback twice, back to back


def test_delay(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, faults=FaultSpec(delay=1.0, delay_s=(0.2, 0.4))))
    summary = run_one_of_each(control)
    assert summary["delivered"] == 5 and len(sink.received) == 5
    delays = [e["detail"]["delay_s"] for e in control.entries("fault")]
    assert len(delays) == 5 and all(0.2 <= d <= 0.4 for d in delays)


def test_reorder_sends_a_callback_after_the_next_one(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink))
    first = control.create("tencent-mps", faults={"reorder": 1.0})
    second = control.create("tencent-mps")
    control.finish(first["task_id"])
    control.finish(second["task_id"])
    summary = control.settle()["summary"]
    assert balanced(summary) and summary["delivered"] == 2
    arrived = [json.loads(r.body)["WorkflowTaskEvent"]["TaskId"] for r in sink.at("/tencent-mps")]
    assert arrived == [second["task_id"], first["task_id"]]
    assert faults_applied(control) == ["reorder"]


def test_reorder_alone_is_released_after_the_hold(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, reorder_hold_s=0.2, faults=FaultSpec(reorder=1.0)))
    control.finish(control.create("tencent-vod-v3")["task_id"])
    summary = control.settle()["summary"]
    assert summary["delivered"] == 1 and len(sink.received) == 1


def test_corrupt_signature(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, key="AbCd1234", faults=FaultSpec(corrupt_signature=1.0)))
    summary = run_one_of_each(control)
    assert summary["delivered"] == 5
    # legacy callbacks carry no signature, so the fault is not applied to them
    assert faults_applied(control) == ["corrupt_signature"] * 4
    mps = json.loads(sink.at("/tencent-mps")[0].body)
    assert mps["Sign"] != hashlib.md5(f"{mps['Timestamp']}AbCd1234".encode()).hexdigest()
    assert len(mps["Sign"]) == 32
    v3 = json.loads(sink.at("/tencent-vod-v3")[0].body)
    assert v3["Sign"] != hashlib.md5(f"AbCd1234{v3['T']}".encode()).hexdigest()
    for received in sink.at("/aliyun-vod"):
        ts = received.headers["x-vod-timestamp"]
        good = hashlib.md5(f"{sink.url('/aliyun-vod')}|{ts}|AbCd1234".encode()).hexdigest()
        assert received.headers["x-vod-signature"] != good


@pytest.mark.parametrize("fault", ["truncate_body", "invalid_body"])
def test_broken_bodies(emulator: EmulatorFactory, sink: Sink, fault: str) -> None:
    control = emulator(push_config(sink, faults=FaultSpec(**{fault: 1.0})))
    summary = run_one_of_each(control)
    assert summary["delivered"] == 5 and faults_applied(control) == [fault] * 5
    for received in sink.received:
        with pytest.raises(ValueError):
            json.loads(received.body)
    if fault == "truncate_body":
        assert all(r.body.startswith(b"{") for r in sink.received)


def mps_client(control: Control, timeout: int = 60) -> MpsClient:
    profile = HttpProfile(endpoint=control.server.netloc, protocol="http", reqTimeout=timeout)
    return MpsClient(credential.Credential("test", "test"), "", ClientProfile(httpProfile=profile))


def describe(client: MpsClient, task_id: str) -> mps_models.DescribeTaskDetailResponse:
    request = mps_models.DescribeTaskDetailRequest()
    request.TaskId = task_id
    return client.DescribeTaskDetail(request)


def test_query_5xx(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-mps")["task_id"]
    control.faults(query_5xx=1.0)
    with pytest.raises(TencentCloudSDKException) as caught:
        describe(mps_client(control), task)
    assert caught.value.code == "ServerNetworkError"
    aliyun = control.http.post("/?Action=GetTranscodeTask")
    assert aliyun.status_code == 400  # auth is checked before faults apply: an unsigned call is refused first
    assert faults_applied(control) == ["query_5xx"]
    assert control.entries("query")[0]["detail"]["http_status"] == 503


def test_query_rate_limit(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-mps")["task_id"]
    control.faults(query_rate_limit=1.0)
    with pytest.raises(TencentCloudSDKException) as caught:
        describe(mps_client(control), task)
    assert caught.value.code == "RequestLimitExceeded"
    assert faults_applied(control) == ["query_rate_limit"]


def test_slow_answer_outlasts_the_clients_patience(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-mps")["task_id"]
    control.faults(slow_answer=1.0, slow_answer_s=2.5)
    with pytest.raises(TencentCloudSDKException) as caught:
        describe(mps_client(control, timeout=1), task)
    assert caught.value.code == "ClientNetworkError"
    assert faults_applied(control) == ["slow_answer"]


def test_per_task_faults_override_the_global_ones(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, faults=FaultSpec(drop=1.0)))
    kept = control.create("aliyun-vod", outputs=[{}], faults={})
    lost = control.create("aliyun-vod", outputs=[{}])
    control.finish(kept["task_id"])
    control.finish(lost["task_id"])
    summary = control.settle()["summary"]
    assert balanced(summary) and (summary["delivered"], summary["dropped"]) == (2, 2)
    assert {json.loads(r.body)["VideoId"] for r in sink.received} == {kept["file_id"]}
    response = control.http.post(f"/_emulator/tasks/{kept['task_id']}/faults", json={"duplicate": 1.0})
    assert response.json()["duplicate"] == 1.0


def test_faults_are_reproducible_from_the_seed(emulator: EmulatorFactory, sink: Sink) -> None:
    spec = FaultSpec(drop=0.3, duplicate=0.3, delay=0.2, delay_s=(0.01, 0.05), truncate_body=0.2)

    def one_run(seed: int) -> list[tuple[str | None, str]]:
        control = emulator(push_config(sink, seed=seed, faults=spec))
        for _ in range(12):
            control.finish(control.create("aliyun-vod", outputs=[{}])["task_id"])
        summary = control.settle()["summary"]
        assert balanced(summary)
        return [(e["task_id"], e["detail"]["fault"]) for e in control.entries("fault")]

    first, again, other = one_run(7), one_run(7), one_run(8)
    assert first == again and first != other
    assert {f for _, f in first} >= {"drop", "duplicate"}
    # the decision is a pure function of (seed, task ordinal, callback number)
    assert plan_callback(7, spec, 3, 1) == plan_callback(7, spec, 3, 1)


def test_fault_spec_is_validated(emulator: EmulatorFactory) -> None:
    control = emulator()
    assert control.http.post("/_emulator/faults", json={"drop": 2}).status_code == 400
    assert control.http.post("/_emulator/faults", json={"delay_s": [3, 1]}).status_code == 400
    assert control.http.post("/_emulator/faults", json={"explode": 1}).status_code == 400
    assert control.http.get("/_emulator/faults").json()["drop"] == 0.0


def test_pull_mode_faults_drop_and_duplicate(emulator: EmulatorFactory) -> None:
    config = EmulatorConfig(time_scale=0, pull_wait_s=0, dialects={"tencent-vod-v2": DialectConfig(mode="pull")})
    control = emulator(config)
    dropped = control.create("tencent-vod-v2", faults={"drop": 1.0})
    doubled = control.create("tencent-vod-v2", faults={"duplicate": 1.0, "truncate_body": 1.0})
    control.finish(dropped["task_id"])
    control.finish(doubled["task_id"])
    queue = control.emulator.queues["tencent-vod-v2"]
    assert len(queue) == 2  # the duplicate twice, the dropped one never
    summary = control.ledger()["summary"]
    assert (summary["published"], summary["dropped"], summary["in_flight"]) == (2, 1, 1)
    assert faults_applied(control) == ["drop", "duplicate"]  # no body to truncate in a pulled event


def test_query_faults_on_the_alibaba_api(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("aliyun-vod")["task_id"]
    control.faults(query_5xx=1.0)
    with pytest.raises(ServerException) as caught:
        old_sdk_get(control, task)
    assert (caught.value.get_http_status(), caught.value.get_error_code()) == (503, "ServiceUnavailable")
    control.faults(query_rate_limit=1.0)
    with pytest.raises(ServerException) as caught:
        old_sdk_get(control, task)
    assert (caught.value.get_http_status(), caught.value.get_error_code()) == (400, "Throttling.User")
    assert faults_applied(control) == ["query_5xx", "query_rate_limit"]
    assert [q["detail"]["outcome"] for q in control.entries("query")] == [
        "error:ServiceUnavailable",
        "error:Throttling.User",
    ]

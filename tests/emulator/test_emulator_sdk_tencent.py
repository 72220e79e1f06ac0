"""The official Tencent Cloud SDKs (VOD 3.0 and MPS), unchanged but for the endpoint, against the emulator."""

from __future__ import annotations

import pytest
from tencentcloud.common import credential  # type: ignore[import-untyped]
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException  # type: ignore[import-untyped]
from tencentcloud.common.profile.client_profile import ClientProfile  # type: ignore[import-untyped]
from tencentcloud.common.profile.http_profile import HttpProfile  # type: ignore[import-untyped]
from tencentcloud.mps.v20190612 import models as mps_models  # type: ignore[import-untyped]
from tencentcloud.mps.v20190612.mps_client import MpsClient  # type: ignore[import-untyped]
from tencentcloud.vod.v20180717 import models as vod_models  # type: ignore[import-untyped]
from tencentcloud.vod.v20180717.vod_client import VodClient  # type: ignore[import-untyped]

from receiver.emulator.config import DialectConfig, EmulatorConfig
from tests.emulator.conftest import Control, EmulatorFactory, Sink, push_config


def _profile(control: Control, method: str = "POST") -> ClientProfile:
    return ClientProfile(httpProfile=HttpProfile(endpoint=control.server.netloc, protocol="http", reqMethod=method))


def mps(control: Control, key: str = "test", method: str = "POST") -> MpsClient:
    return MpsClient(credential.Credential("test", key), "ap-guangzhou", _profile(control, method))


def vod(control: Control, key: str = "test", method: str = "POST") -> VodClient:
    return VodClient(credential.Credential("test", key), "", _profile(control, method))


def mps_detail(client: MpsClient, task_id: str) -> mps_models.DescribeTaskDetailResponse:
    request = mps_models.DescribeTaskDetailRequest()
    request.TaskId = task_id
    return client.DescribeTaskDetail(request)


def vod_detail(client: VodClient, task_id: str) -> vod_models.DescribeTaskDetailResponse:
    request = vod_models.DescribeTaskDetailRequest()
    request.TaskId = task_id
    return client.DescribeTaskDetail(request)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_mps_describe_task_detail_follows_the_task(emulator: EmulatorFactory, method: str) -> None:
    control = emulator()
    task = control.create("tencent-mps", scenario="partial")
    client = mps(control, method=method)

    waiting = mps_detail(client, task["task_id"])
    assert (waiting.TaskType, waiting.Status, waiting.FinishTime) == ("WorkflowTask", "WAITING", "0000-00-00T00:00:00Z")
    assert waiting.WorkflowTask is None

    control.advance(task["task_id"])
    processing = mps_detail(client, task["task_id"])
    assert processing.Status == "PROCESSING"
    assert processing.WorkflowTask.Status == "PROCESSING"
    assert {r.TranscodeTask.Status for r in processing.WorkflowTask.MediaProcessResultSet} == {"PROCESSING"}

    control.finish(task["task_id"])
    done = mps_detail(client, task["task_id"])
    results = [r.TranscodeTask for r in done.WorkflowTask.MediaProcessResultSet]
    assert done.Status == "FINISH" and done.FinishTime != "0000-00-00T00:00:00Z"
    assert [r.Status for r in results] == ["SUCCESS", "SUCCESS", "FAIL"]
    assert results[0].Output.Path.endswith("_transcode_100010.mp4")
    assert results[0].Output.OutputStorage.CosOutputStorage.Region == "ap-guangzhou"
    assert results[2].Output is None and results[2].ErrCodeExt == "SourceFileError"
    assert done.RequestId


def test_mps_process_media_creates_a_task_that_calls_back_signed(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator()
    client = mps(control)
    request = mps_models.ProcessMediaRequest()
    request.from_json_string(
        '{"InputInfo": {"Type": "COS", "CosInputInfo": {"Bucket": "in-1250000000", "Region": "ap-shanghai",'
        ' "Object": "/movie/WildAnimal.mov"}},'
        ' "OutputStorage": {"Type": "COS", "CosOutputStorage": {"Bucket": "out-1250000000", "Region": "ap-shanghai"}},'
        ' "OutputDir": "/out/",'
        ' "MediaProcessTask": {"TranscodeTaskSet": [{"Definition": 10}, {"Definition": 20}]},'
        f' "TaskNotifyConfig": {{"NotifyType": "URL", "NotifyUrl": "{sink.url("/mps")}", "NotifyKey": "TestKey9"}},'
        ' "SessionContext": "order-42"}'
    )
    task_id = client.ProcessMedia(request).TaskId
    assert "-WorkflowTask-" in task_id

    control.finish(task_id)
    control.settle()
    detail = mps_detail(client, task_id)
    assert detail.SessionContext == "order-42"
    assert detail.TaskNotifyConfig.NotifyUrl == sink.url("/mps")
    paths = [r.TranscodeTask.Output.Path for r in detail.WorkflowTask.MediaProcessResultSet]
    assert paths == ["/out/WildAnimal_transcode_10.mp4", "/out/WildAnimal_transcode_20.mp4"]
    [callback] = sink.at("/mps")
    assert b'"SessionContext":"order-42"' in callback.body and b'"Sign":"' in callback.body


@pytest.mark.parametrize("client_kind", ["mps", "vod"])
def test_wrong_key_gets_signature_failure_through_the_sdk(emulator: EmulatorFactory, client_kind: str) -> None:
    control = emulator()
    if client_kind == "mps":
        task = control.create("tencent-mps")
        with pytest.raises(TencentCloudSDKException) as caught:
            mps_detail(mps(control, key="wrong"), task["task_id"])
    else:
        task = control.create("tencent-vod-v3")
        with pytest.raises(TencentCloudSDKException) as caught:
            vod_detail(vod(control, key="wrong"), task["task_id"])
    assert caught.value.code == "AuthFailure.SignatureFailure"
    assert caught.value.requestId


def test_unknown_secret_id_and_unknown_task(emulator: EmulatorFactory) -> None:
    control = emulator()
    stranger = MpsClient(credential.Credential("nobody", "x"), "ap-guangzhou", _profile(control))
    with pytest.raises(TencentCloudSDKException) as caught:
        mps_detail(stranger, "1250000000-WorkflowTask-00000000000000000000000000000000t0")
    assert caught.value.code == "AuthFailure.SecretIdNotFound"
    with pytest.raises(TencentCloudSDKException) as caught:
        mps_detail(mps(control), "1250000000-WorkflowTask-00000000000000000000000000000000t0")
    assert caught.value.code == "ResourceNotFound"


def test_several_credential_pairs_are_accepted(emulator: EmulatorFactory) -> None:
    config = EmulatorConfig(
        time_scale=0,
        credentials=[{"secret_id": "AKIDone", "secret_key": "one"}, {"secret_id": "AKIDtwo", "secret_key": "two"}],
    )
    control = emulator(config)
    task = control.create("tencent-vod-v3")
    for secret_id, key in (("AKIDone", "one"), ("AKIDtwo", "two")):
        client = VodClient(credential.Credential(secret_id, key), "", _profile(control))
        assert vod_detail(client, task["task_id"]).Status == "WAITING"


def test_vod_describe_task_detail_for_each_kind(emulator: EmulatorFactory) -> None:
    control = emulator()
    client = vod(control)
    expected = {
        "procedure": ("Procedure", "ProcedureTask"),
        "transcode": ("Transcode", "TranscodeTask"),
        "clip": ("Clip", "ClipTask"),
        "concat": ("Concat", "ConcatTask"),
        "snapshot": ("SnapshotByTimeOffset", "SnapshotByTimeOffsetTask"),
        "sprite": ("ImageSprite", "CreateImageSpriteTask"),
    }
    for kind, (task_type, key) in expected.items():
        task = control.create("tencent-vod-v3", kind=kind)
        control.finish(task["task_id"])
        detail = vod_detail(client, task["task_id"])
        assert (detail.TaskType, detail.Status) == (task_type, "FINISH")
        assert getattr(detail, key).TaskId == task["task_id"]
    procedure = vod_detail(client, control.create("tencent-vod-v3", scenario="fail")["task_id"])
    assert procedure.ProcedureTask is None  # still WAITING


def test_vod_procedure_outputs_and_metadata_parse(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-vod-v3", outputs=[{"definition": 100030}, {"definition": 100040, "fail": True}])
    control.finish(task["task_id"])
    detail = vod_detail(vod(control), task["task_id"])
    procedure = detail.ProcedureTask
    assert procedure.FileId == task["file_id"] and len(procedure.FileId) == 19
    assert procedure.MetaData.VideoStreamSet[0].Codec == "h264"
    ok, failed = (r.TranscodeTask for r in procedure.MediaProcessResultSet)
    assert ok.Status == "SUCCESS" and ok.Output.Url.endswith("/v.f100030.mp4") and ok.Output.Definition == 100030
    assert failed.Status == "FAIL" and failed.Output is None and failed.ErrCode != 0


def test_describe_tasks_lists_tasks_the_client_never_heard_of(emulator: EmulatorFactory) -> None:
    control = emulator()
    ids = [control.create("tencent-vod-v3")["task_id"] for _ in range(3)]
    control.finish(ids[1])
    request = vod_models.DescribeTasksRequest()
    request.Limit = 2
    first = vod(control).DescribeTasks(request)
    assert [t.TaskId for t in first.TaskSet] == ids[:2] and first.ScrollToken == ids[2]
    request.ScrollToken = first.ScrollToken
    assert [t.TaskId for t in vod(control).DescribeTasks(request).TaskSet] == ids[2:]
    finished = vod_models.DescribeTasksRequest()
    finished.Status = "FINISH"
    assert [t.TaskId for t in vod(control).DescribeTasks(finished).TaskSet] == [ids[1]]

    mps_ids = [control.create("tencent-mps")["task_id"] for _ in range(2)]
    listing = mps(control).DescribeTasks(mps_models.DescribeTasksRequest())
    assert [t.TaskId for t in listing.TaskSet] == mps_ids[::-1] and listing.TotalCount == 2


def test_retention_windows_on_the_emulator_clock(emulator: EmulatorFactory) -> None:
    control = emulator()
    vod_task = control.create("tencent-vod-v3")["task_id"]
    mps_task = control.create("tencent-mps")["task_id"]
    control.clock(advance_s=3 * 86400 - 60)
    assert vod_detail(vod(control), vod_task).TaskType == "Procedure"
    control.clock(advance_s=120)
    with pytest.raises(TencentCloudSDKException) as caught:
        vod_detail(vod(control), vod_task)
    assert caught.value.code == "ResourceNotFound"
    assert mps_detail(mps(control), mps_task).TaskType == "WorkflowTask"  # MPS keeps 7 days
    control.clock(advance_s=4 * 86400)
    with pytest.raises(TencentCloudSDKException) as caught:
        mps_detail(mps(control), mps_task)
    assert caught.value.code == "ResourceNotFound"


def test_rate_limit_of_100_per_second_on_a_frozen_clock(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-mps")["task_id"]
    client = mps(control)
    for _ in range(100):
        mps_detail(client, task)
    with pytest.raises(TencentCloudSDKException) as caught:
        mps_detail(client, task)
    assert caught.value.code == "RequestLimitExceeded"
    control.clock(advance_s=1.5)
    assert mps_detail(client, task).Status == "WAITING"


def test_error_content_type_is_exactly_application_json(emulator: EmulatorFactory) -> None:
    """The SDK ignores errors sent with a charset; the emulator must not send one."""
    control = emulator()
    response = control.http.post(
        "/",
        headers={"X-TC-Action": "DescribeTaskDetail", "X-TC-Version": "2019-06-12", "Content-Type": "application/json"},
        content=b"{}",
    )
    assert response.headers["content-type"] == "application/json"
    assert response.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_vod_pull_events_and_confirm(emulator: EmulatorFactory) -> None:
    config = EmulatorConfig(time_scale=0, pull_wait_s=0, dialects={"tencent-vod-v3": DialectConfig(mode="pull")})
    control = emulator(config)
    client = vod(control)
    with pytest.raises(TencentCloudSDKException) as caught:
        client.PullEvents(vod_models.PullEventsRequest())
    assert caught.value.code == "ResourceNotFound"

    task = control.create("tencent-vod-v3", scenario="success")
    control.finish(task["task_id"])
    pulled = client.PullEvents(vod_models.PullEventsRequest())
    [event] = pulled.EventSet
    assert event.EventType == "ProcedureStateChanged" and event.EventHandle.isdigit()
    assert event.ProcedureStateChangeEvent.TaskId == task["task_id"]
    assert event.ProcedureStateChangeEvent.Status == "FINISH"

    confirm = vod_models.ConfirmEventsRequest()
    confirm.EventHandles = [event.EventHandle]
    client.ConfirmEvents(confirm)
    summary = control.ledger()["summary"]
    assert (summary["published"], summary["delivered"], summary["dropped"]) == (1, 1, 0)
    with pytest.raises(TencentCloudSDKException) as caught:
        client.ConfirmEvents(confirm)  # already confirmed
    assert caught.value.code == "InvalidParameterValue"


def test_unconfirmed_events_come_back_after_30_s(emulator: EmulatorFactory) -> None:
    config = EmulatorConfig(time_scale=0, pull_wait_s=0, dialects={"tencent-vod-v3": DialectConfig(mode="pull")})
    control = emulator(config)
    client = vod(control)
    control.finish(control.create("tencent-vod-v3")["task_id"])
    [first] = client.PullEvents(vod_models.PullEventsRequest()).EventSet
    with pytest.raises(TencentCloudSDKException):
        client.PullEvents(vod_models.PullEventsRequest())  # leased: nothing else to pull
    control.clock(advance_s=31)
    [again] = client.PullEvents(vod_models.PullEventsRequest()).EventSet
    assert again.ProcedureStateChangeEvent.TaskId == first.ProcedureStateChangeEvent.TaskId
    assert again.EventHandle != first.EventHandle
    late = vod_models.ConfirmEventsRequest()
    late.EventHandles = [first.EventHandle]
    with pytest.raises(TencentCloudSDKException):
        client.ConfirmEvents(late)
    assert [
        e["kind"]
        for e in control.ledger(task_id=again.ProcedureStateChangeEvent.TaskId)["entries"]
        if e["kind"] in ("pulled", "requeued")
    ] == ["pulled", "requeued", "pulled"]


def test_mps_change_mode_notifies_each_state(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, notify_mode="Change"))
    task = control.create("tencent-mps", outputs=[{}, {}])
    control.advance(task["task_id"])
    control.clock(advance_s=5)  # the first of two outputs is due at 1/3 of 10 s
    control.finish(task["task_id"])
    control.settle()
    statuses = [r.body.count(b'"Status":"SUCCESS"') for r in sink.at("/tencent-mps")]
    assert statuses == [0, 1, 2]

"""Alibaba's official Python SDKs (old core + vod, new Tea vod20170321) against the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alibabacloud_tea_openapi import models as open_api_models  # type: ignore[import-untyped]
from alibabacloud_vod20170321 import models as vod_models  # type: ignore[import-untyped]
from alibabacloud_vod20170321.client import Client  # type: ignore[import-untyped]
from aliyunsdkcore.acs_exception.exceptions import ServerException  # type: ignore[import-untyped]
from aliyunsdkcore.client import AcsClient  # type: ignore[import-untyped]
from aliyunsdkvod.request.v20170321.GetTranscodeTaskRequest import GetTranscodeTaskRequest  # type: ignore[import-untyped]
from aliyunsdkvod.request.v20170321.ListTranscodeTaskRequest import ListTranscodeTaskRequest  # type: ignore[import-untyped]
from aliyunsdkvod.request.v20170321.SubmitTranscodeJobsRequest import SubmitTranscodeJobsRequest  # type: ignore[import-untyped]
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from tests.emulator.conftest import Control, EmulatorFactory, Sink, push_config


def old_sdk_get(control: Control, task_id: str, key: str = "test") -> dict[str, Any]:
    request = GetTranscodeTaskRequest()
    request.set_endpoint(control.server.netloc)
    request.set_protocol_type("http")
    request.set_TranscodeTaskId(task_id)
    answer: dict[str, Any] = json.loads(AcsClient("test", key, "cn-shanghai").do_action_with_exception(request))
    return answer


def new_sdk(control: Control, key: str = "test", algorithm: str | None = None) -> Client:
    config = open_api_models.Config(
        access_key_id="test",
        access_key_secret=key,
        region_id="cn-shanghai",
        endpoint=control.server.netloc,
        protocol="http",
    )
    if algorithm:
        config.signature_algorithm = algorithm
    return Client(config)


def test_old_sdk_get_transcode_task_follows_the_task(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("aliyun-vod", scenario="partial")
    processing = old_sdk_get(control, task["task_id"])
    assert processing["TranscodeTask"]["TaskStatus"] == "Processing"
    control.advance(task["task_id"])
    control.clock(advance_s=3)  # first of three renditions is due at 1/4 of 10 s
    partial = old_sdk_get(control, task["task_id"])["TranscodeTask"]
    assert partial["TaskStatus"] == "Partial"
    assert [j["TranscodeJobStatus"] for j in partial["TranscodeJobInfoList"]] == [
        "TranscodeSuccess",
        "Transcoding",
        "Transcoding",
    ]
    control.finish(task["task_id"])
    done = old_sdk_get(control, task["task_id"])
    assert done["TranscodeTask"]["TaskStatus"] == "CompletePartialSucc"
    jobs = done["TranscodeTask"]["TranscodeJobInfoList"]
    assert [j["Definition"] for j in jobs] == ["LD", "SD", "HD"]  # GetTranscodeTask's vocabulary (quirk 6)
    assert isinstance(jobs[0]["OutputFile"]["Bitrate"], str) and isinstance(jobs[0]["OutputFile"]["Filesize"], int)
    assert json.loads(jobs[0]["OutputFile"]["VideoStreamList"])[0]["CodecName"] == "h264"
    assert jobs[2]["ErrorCode"] == "InvalidParameter.ResourceContentBad"


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_new_sdk_get_transcode_task(emulator: EmulatorFactory, algorithm: str | None) -> None:
    control = emulator()
    task = control.create("aliyun-vod")
    control.finish(task["task_id"])
    response = new_sdk(control, algorithm=algorithm).get_transcode_task(
        vod_models.GetTranscodeTaskRequest(transcode_task_id=task["task_id"])
    )
    assert response.status_code == 200
    body = response.body.transcode_task
    assert (body.task_status, body.video_id, body.trigger) == ("CompleteAllSucc", task["file_id"], "Manual")
    assert [j.transcode_job_status for j in body.transcode_job_info_list] == ["TranscodeSuccess"] * 3
    assert body.transcode_job_info_list[0].output_file.output_file_url.endswith("-fd.m3u8")


def test_wrong_key_gets_signature_does_not_match(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("aliyun-vod")
    with pytest.raises(ServerException) as old:
        old_sdk_get(control, task["task_id"], key="wrong")
    # The old core SDK rewrites SignatureDoesNotMatch to InvalidAccessKeySecret when the string to sign the
    # server quotes equals its own: proof the emulator signed exactly what the SDK signed.
    assert (old.value.get_http_status(), old.value.get_error_code()) == (400, "InvalidAccessKeySecret")
    for algorithm in (None, "v2"):
        with pytest.raises(TeaException) as new:
            new_sdk(control, key="wrong", algorithm=algorithm).get_transcode_task(
                vod_models.GetTranscodeTaskRequest(transcode_task_id=task["task_id"])
            )
        assert new.value.code == "SignatureDoesNotMatch"


def test_unknown_task_is_404_no_such_resource(emulator: EmulatorFactory) -> None:
    control = emulator()
    with pytest.raises(ServerException) as old:
        old_sdk_get(control, "0" * 32)
    assert (old.value.get_http_status(), old.value.get_error_code()) == (404, "NoSuchResource")
    with pytest.raises(TeaException) as new:
        new_sdk(control).get_transcode_task(vod_models.GetTranscodeTaskRequest(transcode_task_id="0" * 32))
    assert new.value.code == "NoSuchResource" and new.value.data["statusCode"] == 404


def test_submit_list_and_callback_url_from_user_data(emulator: EmulatorFactory, sink: Sink) -> None:
    control = emulator(push_config(sink, key="AbCd1234"))
    video_id = "10f6baa29bdf71f1bfc46733a78e0102"
    request = SubmitTranscodeJobsRequest()
    request.set_endpoint(control.server.netloc)
    request.set_protocol_type("http")
    request.set_VideoId(video_id)
    request.set_TemplateGroupId("b1b65ab107e143dbb900f6c1fe0b8a01")
    request.set_UserData(
        json.dumps({"MessageCallback": {"CallbackURL": sink.url("/job")}, "Extend": {"localId": "x-1"}})
    )
    submitted = json.loads(AcsClient("test", "test", "cn-shanghai").do_action_with_exception(request))
    task_id = submitted["TranscodeTaskId"]
    assert len(submitted["TranscodeJobs"]["TranscodeJob"]) == 3

    listing = ListTranscodeTaskRequest()
    listing.set_endpoint(control.server.netloc)
    listing.set_protocol_type("http")
    listing.set_VideoId(video_id)
    found = json.loads(AcsClient("test", "test", "cn-shanghai").do_action_with_exception(listing))
    assert [t["TranscodeTaskId"] for t in found["TranscodeTaskList"]] == [task_id]
    assert found["TranscodeTaskList"][0]["TranscodeTemplateGroupId"] == "b1b65ab107e143dbb900f6c1fe0b8a01"

    control.finish(task_id)
    control.settle()
    events = [json.loads(r.body)["EventType"] for r in sink.at("/job")]
    assert events == ["StreamTranscodeComplete"] * 3 + ["TranscodeComplete"]
    assert json.loads(sink.at("/job")[-1].body)["Extend"] == '{"localId":"x-1"}'
    assert sink.at("/aliyun-vod") == []


def test_throttling_at_15_per_second(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("aliyun-vod")["task_id"]
    client = new_sdk(control)
    request = vod_models.GetTranscodeTaskRequest(transcode_task_id=task)
    for _ in range(15):
        client.get_transcode_task(request)
    with pytest.raises(TeaException) as caught:
        client.get_transcode_task(request)
    assert caught.value.code == "Throttling.User"
    control.clock(advance_s=1.1)
    assert client.get_transcode_task(request).status_code == 200


def test_retention_one_year(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("aliyun-vod")["task_id"]
    control.clock(advance_s=364 * 86400)
    assert old_sdk_get(control, task)["TranscodeTask"]["TranscodeTaskId"] == task
    control.clock(advance_s=2 * 86400)
    with pytest.raises(ServerException) as caught:
        old_sdk_get(control, task)
    assert caught.value.get_error_code() == "NoSuchResource"


def test_error_envelope_shape(emulator: EmulatorFactory) -> None:
    control = emulator()
    response = control.http.post("/?Action=GetTranscodeTask&TranscodeTaskId=x")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert list(response.json()) == ["RequestId", "HostId", "Code", "Message", "Recommend"]
    assert response.json()["Code"] == "MissingParameter"

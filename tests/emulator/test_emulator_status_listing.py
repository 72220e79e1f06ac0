"""The listings the fallback's batched status checks rely on (`receiver.fallback.batch`), filtered to the tasks
still processing, created within a window, page by page, as the providers document them: VOD 3.0 DescribeTasks
(`Status`, `CreateTime{After,Before}`, each entry's Status and empty FinishTime), MPS DescribeTasks (`Status`,
`StartTime`/`EndTime`, newest first, no Status per entry but a zero FinishTime), Alibaba GetVideoList
(`Status=Transcoding`, `StartTime`/`EndTime`) and legacy GetTaskList (`status`, `next`/`size`, finishTime 0).
The official SDKs make the calls where they have them; legacy GetTaskList is the receiver's own client.

Each window holds, per dialect: tasks processing (listed), one finished and one waiting (not listed, but by
Alibaba, whose video Status is `Transcoding` while its transcoding waits too); one more processing task is
created a minute before the window and one a minute after it (not listed either, where the listing filters by
creation).
"""

from __future__ import annotations

from datetime import datetime
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

from receiver.dialects.tencent_vod_v2.client import LegacyVodClient
from receiver.signing import Credential
from tests.emulator.conftest import Control, EmulatorFactory

KIND = {
    "tencent-vod-v2": "transcode",
    "tencent-vod-v3": "procedure",
    "tencent-mps": "workflow",
    "aliyun-vod": "transcode",
}
DAY_S = 86400.0


def iso(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(control: Control, dialect: str) -> tuple[str, str, list[dict[str, Any]], dict[str, Any]]:
    """(since, until, the three processing tasks created in between, the waiting one) (see above)."""

    def task(to: str | None) -> dict[str, Any]:  # a day each to wait and to process: only `to` moves it
        created = control.create(dialect, kind=KIND[dialect], durations={"waiting_s": DAY_S, "processing_s": DAY_S})
        return control.advance(created["task_id"], to) if to else created

    task("PROCESSING")
    since = iso(control.clock(advance_s=60.0)["now"])
    listed = [task("PROCESSING") for _ in range(3)]
    task("FINISH")
    waiting = task(None)
    until = iso(control.clock(advance_s=60.0)["now"])
    control.clock(advance_s=60.0)
    task("PROCESSING")
    return since, until, listed, waiting


def _profile(control: Control) -> ClientProfile:
    return ClientProfile(httpProfile=HttpProfile(endpoint=control.server.netloc, protocol="http"))


def test_vod_describe_tasks_lists_the_processing_tasks_of_a_creation_window(emulator: EmulatorFactory) -> None:
    control = emulator()
    since, until, listed, _ = window(control, "tencent-vod-v3")
    client = VodClient(credential.Credential("test", "test"), "", _profile(control))
    request = vod_models.DescribeTasksRequest()
    request.Status = "PROCESSING"
    request.CreateTime = vod_models.TimeRange()
    request.CreateTime.After, request.CreateTime.Before = since, until
    request.Sort = vod_models.SortBy()
    request.Sort.Field, request.Sort.Order = "CreateTime", "Asc"
    request.Limit = 2
    first = client.DescribeTasks(request)
    request.ScrollToken = first.ScrollToken
    second = client.DescribeTasks(request)
    entries = [*first.TaskSet, *second.TaskSet]
    assert [t.TaskId for t in entries] == [t["task_id"] for t in listed]
    assert second.ScrollToken == ""
    assert {(t.Status, t.FinishTime) for t in entries} == {("PROCESSING", "")}


def test_mps_describe_tasks_lists_the_processing_tasks_of_a_creation_window(emulator: EmulatorFactory) -> None:
    control = emulator()
    since, until, listed, _ = window(control, "tencent-mps")
    client = MpsClient(credential.Credential("test", "test"), "ap-guangzhou", _profile(control))
    request = mps_models.DescribeTasksRequest()
    request.Status, request.StartTime, request.EndTime, request.Limit = "PROCESSING", since, until, 2
    first = client.DescribeTasks(request)
    request.ScrollToken = first.ScrollToken
    second = client.DescribeTasks(request)
    entries = [*first.TaskSet, *second.TaskSet]
    assert [t.TaskId for t in entries] == [t["task_id"] for t in reversed(listed)]  # newest first
    assert first.TotalCount == 3 and second.ScrollToken == ""
    assert {t.FinishTime for t in entries} == {"0000-00-00T00:00:00Z"}  # no Status per entry: the zero time says


def test_alibaba_get_video_list_lists_the_videos_being_transcoded(emulator: EmulatorFactory) -> None:
    control = emulator()
    since, until, listed, waiting = window(control, "aliyun-vod")
    client = AliyunClient(
        open_api_models.Config(
            access_key_id="test",
            access_key_secret="test",
            region_id="cn-shanghai",
            endpoint=control.server.netloc,
            protocol="http",
        )
    )
    pages = [
        client.get_video_list(
            aliyun_models.GetVideoListRequest(
                status="Transcoding",
                start_time=since,
                end_time=until,
                sort_by="CreationTime:Asc",
                page_size=2,
                page_no=n,
            )
        ).body
        for n in (1, 2)
    ]
    # a video whose transcoding waits is `Transcoding` too: not finished either
    assert [p.total for p in pages] == [4, 4]
    videos = [v for p in pages for v in p.video_list.video]
    assert [v.video_id for v in videos] == [t["file_id"] for t in [*listed, waiting]]
    assert {v.status for v in videos} == {"Transcoding"}


@pytest.mark.anyio
async def test_legacy_get_task_list_lists_the_processing_tasks(emulator: EmulatorFactory) -> None:
    control = emulator()
    _, _, listed, _ = window(control, "tencent-vod-v2")
    client = LegacyVodClient(Credential("test", "test"), endpoint=control.server.url)
    try:
        first = await client.get_task_list(status="Processing", size=2)  # GetTaskListByFileId's spelling
        second = await client.get_task_list(status="Processing", size=2, next_cursor=first["data"]["next"])
        third = await client.get_task_list(status="Processing", size=2, next_cursor=second["data"]["next"])
    finally:
        await client.aclose()
    entries = [t for page in (first, second, third) for t in page["data"]["taskList"]]
    # no time filter: every processing task of the 72 h window, oldest first, the one before the window too
    assert len(entries) == len(listed) + 2 and [t["vodTaskId"] for t in entries[1:4]] == [t["task_id"] for t in listed]
    assert third["data"]["next"] == ""
    assert {t["finishTime"] for t in entries} == {0}

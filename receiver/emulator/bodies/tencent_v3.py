"""Tencent VOD API 3.0 (`vod.tencentcloudapi.com`, 2018-07-17): EventContent callbacks and the
DescribeTaskDetail / DescribeTasks / PullEvents answers, from the same task state.

Byte notes from the reference (§4): compact JSON; every sibling `*Event` key present as `null` in the order
of a real 2021 capture; `MetaData` keys alphabetical; sub-task keys `Status, ErrCode, ErrCodeExt, Message,
Progress, BeginProcessTime, FinishTime, Input, Output`; unset times `"0000-00-00T00:00:00Z"`; float32-ish
durations; `ErrCode 0` with `Message "SUCCESS"`. With a SignKey configured, `Sign = MD5(SignKey + T)` and
`T` (expiry, unix seconds, send time + 10 min) are added as top-level body fields (placement unverified).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from receiver.emulator.bodies.common import (
    Notice,
    Rendered,
    compact,
    corrupt_hex,
    float32,
    iso,
    notify_mode,
)
from receiver.emulator.bodies.tencent_common import (
    DEFAULT_APP_ID,
    KINDS,
    V3,
    build_task,
    cover_url,
    definition_int,
    snapshot_offset_ms,
)
from receiver.emulator.config import Dialect, DialectConfig
from receiver.emulator.signers import vod_v3_sign
from receiver.emulator.simulation import Change, SimOutput, SimTask, TaskRequest

SIGN_VALIDITY = timedelta(minutes=10)

EVENT_TYPES = {
    "procedure": ("ProcedureStateChanged", "ProcedureStateChangeEvent"),
    "transcode": ("TranscodeComplete", "TranscodeCompleteEvent"),
    "clip": ("ClipComplete", "ClipCompleteEvent"),
    "concat": ("ConcatComplete", "ConcatCompleteEvent"),
    "snapshot": ("CreateSnapshotByTimeOffsetComplete", "SnapshotByTimeOffsetCompleteEvent"),
    "sprite": ("CreateImageSpriteComplete", "CreateImageSpriteCompleteEvent"),
}

#: Sibling keys of a real push body, in the captured order (reference §3.1).
PUSH_KEYS = (
    "FileUploadEvent",
    "ProcedureStateChangeEvent",
    "FileDeleteEvent",
    "PullCompleteEvent",
    "EditMediaCompleteEvent",
    "ComposeMediaCompleteEvent",
    "WechatPublishCompleteEvent",
    "TranscodeCompleteEvent",
    "ConcatCompleteEvent",
    "ClipCompleteEvent",
    "CreateImageSpriteCompleteEvent",
    "SnapshotByTimeOffsetCompleteEvent",
    "WechatMiniProgramPublishEvent",
)

#: Sibling keys of a PullEvents EventContent (the SDK model's names; a wrong name would not parse).
PULL_KEYS = (
    "FileUploadEvent",
    "ProcedureStateChangeEvent",
    "FileDeleteEvent",
    "PullCompleteEvent",
    "EditMediaCompleteEvent",
    "SplitMediaCompleteEvent",
    "ComposeMediaCompleteEvent",
    "ClipCompleteEvent",
    "TranscodeCompleteEvent",
    "CreateImageSpriteCompleteEvent",
    "ConcatCompleteEvent",
    "SnapshotByTimeOffsetCompleteEvent",
    "WechatPublishCompleteEvent",
    "WechatMiniProgramPublishCompleteEvent",
)

#: DescribeTaskDetail: TaskType and the key holding the task, per kind.
DETAIL = {
    "procedure": ("Procedure", "ProcedureTask"),
    "transcode": ("Transcode", "TranscodeTask"),
    "clip": ("Clip", "ClipTask"),
    "concat": ("Concat", "ConcatTask"),
    "snapshot": ("SnapshotByTimeOffset", "SnapshotByTimeOffsetTask"),
    "sprite": ("ImageSprite", "CreateImageSpriteTask"),
}

DETAIL_KEYS = (
    "ProcedureTask",
    "EditMediaTask",
    "WechatPublishTask",
    "ComposeMediaTask",
    "SplitMediaTask",
    "WechatMiniProgramPublishTask",
    "PullUploadTask",
    "TranscodeTask",
    "ConcatTask",
    "ClipTask",
    "CreateImageSpriteTask",
    "SnapshotByTimeOffsetTask",
    "RemoveWatermarkTask",
    "RebuildMediaTask",
    "ExtractTraceWatermarkTask",
    "ExtractCopyRightWatermarkTask",
    "ReviewAudioVideoTask",
    "ReduceMediaBitrateTask",
    "DescribeFileAttributesTask",
    "QualityInspectTask",
    "QualityEnhanceTask",
    "ComplexAdaptiveDynamicStreamingTask",
    "ProcessMediaByMPSTask",
)

#: DescribeTasks TaskSimpleInfo.TaskType (note the plural `ImageSprites` there, quirk Q13).
SIMPLE_TYPES = {**{k: v[0] for k, v in DETAIL.items()}, "sprite": "ImageSprites"}

MEDIA_RESULT_KEYS = (
    "TranscodeTask",
    "AnimatedGraphicTask",
    "SnapshotByTimeOffsetTask",
    "SampleSnapshotTask",
    "ImageSpriteTask",
    "CoverBySnapshotTask",
    "AdaptiveDynamicStreamingTask",
)


class TencentV3Bodies:
    dialect = Dialect.TENCENT_VOD_V3
    kinds = KINDS

    def __init__(self, config: DialectConfig) -> None:
        self.app_id = config.app_id or DEFAULT_APP_ID
        self.region = config.region or "ap-guangzhou"

    def build(self, request: TaskRequest, ordinal: int, created_at: datetime, seed: int) -> SimTask:
        return build_task(request, ordinal, created_at, seed, flavor=V3, app_id=self.app_id, region=self.region)

    def notices(self, change: Change, config: DialectConfig) -> list[Notice]:
        task = change.task
        if task.kind == "procedure" and notify_mode(task, config) == "Change":
            if change.kind == "output" and change.at == task.finish_at:
                return []
            return [self.notice(task, PUSH_KEYS)]
        if change.kind == "finish":
            return [self.notice(task, PUSH_KEYS)]
        return []

    def notice(self, task: SimTask, keys: tuple[str, ...]) -> Notice:
        event_type, event_key = EVENT_TYPES[task.kind]
        body: dict[str, Any] = {"EventType": event_type}
        for key in keys:
            body[key] = event_block(task) if key == event_key else None
        return Notice(event_type, body, task)

    def pull_content(self, notice: Notice, handle: str) -> dict[str, Any]:
        """A PullEvents EventContent: the handle, then the published event under the SDK's sibling names."""
        _, event_key = EVENT_TYPES[notice.task.kind]
        content: dict[str, Any] = {"EventHandle": handle, "EventType": notice.event_type}
        for key in PULL_KEYS:
            content[key] = notice.body.get(event_key) if key == event_key else None
        return content

    def render(self, notice: Notice, *, url: str, key: str | None, now: datetime, corrupt: bool) -> Rendered:
        body = dict(notice.body)
        if key:
            expiry = int((now + SIGN_VALIDITY).timestamp())
            sign = vod_v3_sign(key, expiry)
            body["Sign"] = corrupt_hex(sign) if corrupt else sign
            body["T"] = expiry
        return Rendered({"Content-Type": "application/json"}, compact(body))


# --- task blocks ------------------------------------------------------------------------------------


def event_block(task: SimTask) -> dict[str, Any]:
    return {
        "procedure": procedure_task,
        "transcode": transcode_2017,
        "clip": clip_2017,
        "concat": concat_2017,
        "snapshot": snapshot_2017,
        "sprite": sprite_2017,
    }[task.kind](task)


def meta_data(task: SimTask) -> dict[str, Any]:
    """Alphabetical keys, as real push bodies have them."""
    m = task.media
    return {
        "AudioDuration": float32(m.duration),
        "AudioStreamSet": [{"Bitrate": m.audio_bitrate, "SamplingRate": m.sampling_rate, "Codec": m.audio_codec}],
        "Bitrate": m.bitrate,
        "Container": "mov,mp4,m4a,3gp,3g2,mj2",
        "Duration": float32(m.duration),
        "Height": m.height,
        "Rotate": 0,
        "Size": m.size,
        "VideoDuration": float32(m.duration),
        "VideoStreamSet": [
            {"Bitrate": m.video_bitrate, "Height": m.height, "Width": m.width, "Codec": m.video_codec, "Fps": m.fps}
        ],
        "Width": m.width,
    }


def _progress(task: SimTask, output: SimOutput) -> int:
    if output.done:
        return 100
    if output.status == "WAITING" or task.begin_at is None:
        return 0
    return 50


def transcode_result(task: SimTask, output: SimOutput) -> dict[str, Any]:
    status = output.status if output.status != "WAITING" else "PROCESSING"
    failed = status == "FAIL"
    result: dict[str, Any] = {
        "Status": status,
        "ErrCode": 60000 if failed else 0,
        "ErrCodeExt": "SourceFileError" if failed else "",
        "Message": "source file err" if failed else "SUCCESS",
        "Progress": _progress(task, output),
        "BeginProcessTime": iso(output.begin_at),
        "FinishTime": iso(output.finished_at),
        "Input": {
            "Definition": definition_int(output),
            "WatermarkSet": [],
            "MosaicSet": [],
            "HeadTailSet": [],
            "StartTimeOffset": 0,
            "EndTimeOffset": 0,
        },
        "Output": None,
    }
    if status == "SUCCESS":
        audio = task.media.audio_bitrate
        result["Output"] = {
            "Url": output.url,
            "Definition": definition_int(output),
            "Bitrate": output.bitrate,
            "Height": output.height,
            "Width": output.width,
            "Size": output.size,
            "Duration": float32(output.duration),
            "Md5": output.md5,
            "Container": "mov,mp4,m4a,3gp,3g2,mj2" if output.container == "mp4" else output.container,
            "VideoStreamSet": [
                {
                    "Bitrate": output.bitrate - audio,
                    "Height": output.height,
                    "Width": output.width,
                    "Codec": "h264",
                    "Fps": output.fps,
                }
            ],
            "AudioStreamSet": [{"Bitrate": audio, "SamplingRate": task.media.sampling_rate, "Codec": "aac"}],
            "DigitalWatermarkType": "None",
        }
    return result


def media_process_item(task: SimTask, output: SimOutput) -> dict[str, Any]:
    item: dict[str, Any] = {"Type": "Transcode"}
    for key in MEDIA_RESULT_KEYS:
        item[key] = transcode_result(task, output) if key == "TranscodeTask" else None
    return item


def procedure_task(task: SimTask) -> dict[str, Any]:
    return {
        "TaskId": task.id,
        "Status": "FINISH" if task.finished else "PROCESSING",
        "ErrCode": 0,
        "Message": "SUCCESS",
        "FileId": task.file_id,
        "FileName": task.file_name,
        "FileUrl": task.file_url,
        "MetaData": meta_data(task),
        "AiAnalysisResultSet": [],
        "AiRecognitionResultSet": [],
        "AiContentReviewResultSet": [],
        "MediaProcessResultSet": [media_process_item(task, o) for o in task.outputs],
        "SessionContext": task.session_context,
        "SessionId": task.session_id,
        "TasksPriority": 0,
        "TasksNotifyMode": task.notify_mode or "Finish",
    }


def transcode_2017(task: SimTask) -> dict[str, Any]:
    ok = [o for o in task.outputs if o.status == "SUCCESS"]
    failed = task.finished and not ok
    return {
        "TaskId": task.id,
        "ErrCode": -45001 if failed else 0,
        "Message": "transcode failed" if failed else "",
        "FileId": task.file_id,
        "FileName": task.file_name,
        "Duration": int(task.media.duration),
        "CoverUrl": "" if failed else cover_url(task),
        "PlayInfoSet": [
            {"Url": o.url, "Definition": definition_int(o), "Bitrate": o.bitrate, "Height": o.height, "Width": o.width}
            for o in ok
        ],
    }


def _file_info(task: SimTask, output: SimOutput) -> dict[str, Any]:
    failed = output.status == "FAIL"
    return {
        "ErrCode": (-1 if task.kind == "concat" else -43001) if failed else 0,
        "Message": "source file error" if failed else "",
        "FileId": "" if failed else str(task.extra.get("new_file_id", "")),
        "FileUrl": "" if failed else output.url,
        "FileType": output.container,
    }


def clip_2017(task: SimTask) -> dict[str, Any]:
    return {"TaskId": task.id, "SrcFileId": task.file_id, "FileInfo": _file_info(task, task.outputs[0])}


def concat_2017(task: SimTask) -> dict[str, Any]:
    return {"TaskId": task.id, "FileInfoSet": [_file_info(task, o) for o in task.outputs]}


def snapshot_2017(task: SimTask) -> dict[str, Any]:
    return {
        "TaskId": task.id,
        "FileId": task.file_id,
        "Definition": definition_int(task.outputs[0]),
        "SnapshotInfoSet": [
            {
                "ErrCode": -46204 if o.status == "FAIL" else 0,
                "TimeOffset": snapshot_offset_ms(o),
                "Url": "" if o.status == "FAIL" else o.url,
            }
            for o in task.outputs
        ],
    }


def sprite_2017(task: SimTask) -> dict[str, Any]:
    output = task.outputs[0]
    failed = output.status == "FAIL"
    return {
        "TaskId": task.id,
        "ErrCode": -44001 if failed else 0,
        "Message": "image sprite failed" if failed else "",
        "FileId": task.file_id,
        "Definition": definition_int(output),
        "TotalCount": 0 if failed else max(1, int(task.media.duration // 10)),
        "ImageSpriteUrlSet": [] if failed else [output.url],
        "WebVttUrl": "" if failed else output.url.rsplit("_", 1)[0] + ".vtt",
    }


# --- query answers ----------------------------------------------------------------------------------


def task_detail(task: SimTask) -> dict[str, Any]:
    """DescribeTaskDetail minus RequestId; the task's own block, every other task key null."""
    task_type, key = DETAIL[task.kind]
    answer: dict[str, Any] = {
        "TaskType": task_type,
        "Status": str(task.status),
        "CreateTime": iso(task.created_at),
        "BeginProcessTime": iso(task.begin_at),
        "FinishTime": iso(task.finish_at),
    }
    for name in DETAIL_KEYS:
        answer[name] = event_block(task) if name == key and task.begin_at is not None else None
    return answer


def simple_info(task: SimTask) -> dict[str, Any]:
    return {
        "TaskId": task.id,
        "Status": str(task.status),
        "FileId": task.file_id,
        "TaskType": SIMPLE_TYPES[task.kind],
        "CreateTime": iso(task.created_at),
        "BeginProcessTime": iso(task.begin_at, ""),
        "FinishTime": iso(task.finish_at, ""),
        "SessionId": task.session_id,
        "SessionContext": task.session_context,
    }

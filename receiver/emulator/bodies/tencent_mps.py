"""Tencent MPS (`mps.tencentcloudapi.com`, 2019-06-12): WorkflowTask callbacks (ParseNotification shape,
without the `Response` envelope) and DescribeTaskDetail / DescribeTasks answers from the same state.

With a NotifyKey (configured, or from the task's TaskNotifyConfig), `Timestamp` (expiry: send time + 10 min)
and `Sign = MD5(Timestamp + NotifyKey)` close the body; without one they are absent, like the real sample.
Outputs live in COS: `OutputStorage` + `Path`, not URLs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from receiver.emulator.bodies.common import (
    Notice,
    Rendered,
    Rendition,
    base_task,
    check_kind,
    compact,
    corrupt_hex,
    float32,
    iso,
    make_media,
    notify_mode,
    plan_outputs,
)
from receiver.emulator.config import Dialect, DialectConfig
from receiver.emulator.ids import IdSource
from receiver.emulator.signers import mps_sign
from receiver.emulator.simulation import Change, SimOutput, SimTask, TaskRequest

KINDS = ("workflow",)
DEFAULT_APP_ID = "1250000000"
SIGN_VALIDITY = timedelta(minutes=10)
RENDITIONS = (
    Rendition("100010", 640, 360, 400_000, "mp4"),
    Rendition("100020", 960, 540, 800_000, "mp4"),
    Rendition("100030", 1280, 720, 1_200_000, "mp4"),
)
MEDIA_RESULT_KEYS = (
    "TranscodeTask",
    "AnimatedGraphicTask",
    "SnapshotByTimeOffsetTask",
    "SampleSnapshotTask",
    "ImageSpriteTask",
    "AdaptiveDynamicStreamingTask",
)


class TencentMpsBodies:
    dialect = Dialect.TENCENT_MPS
    kinds = KINDS

    def __init__(self, config: DialectConfig) -> None:
        self.app_id = config.app_id or DEFAULT_APP_ID
        self.region = config.region or "ap-guangzhou"

    def build(self, request: TaskRequest, ordinal: int, created_at: datetime, seed: int) -> SimTask:
        kind = check_kind(request, KINDS)
        ids = IdSource(seed, "task", ordinal)
        media = make_media(ids)
        outputs = plan_outputs(request, RENDITIONS, ids, media)
        bucket = str(request.extra.get("bucket") or f"input-{self.app_id}")
        region = str(request.extra.get("region") or self.region)
        source = str(request.extra.get("object") or f"/input/{ids.hex(8)}.mp4")
        task = base_task(
            request,
            ordinal=ordinal,
            created_at=created_at,
            kind=kind,
            task_id=f"{self.app_id}-WorkflowTask-{ids.hex(32)}t0",
            file_id="",
            file_name=source.rsplit("/", 1)[-1],
            file_url=source,
            media=media,
            outputs=outputs,
            app_id=self.app_id,
            region=region,
        )
        task.extra.setdefault("bucket", bucket)
        task.extra.setdefault("output_bucket", str(request.extra.get("output_bucket") or f"output-{self.app_id}"))
        stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        out_dir = str(request.extra.get("output_dir") or "/output/")
        for output in outputs:
            output.path = f"{out_dir.rstrip('/')}/{stem}_transcode_{output.definition}.{output.container}"
        return task

    def notices(self, change: Change, config: DialectConfig) -> list[Notice]:
        task = change.task
        if notify_mode(task, config) == "Change":
            if change.kind == "output" and change.at == task.finish_at:
                return []
            return [self.notice(task)]
        if change.kind == "finish":
            return [self.notice(task)]
        return []

    def notice(self, task: SimTask) -> Notice:
        body: dict[str, Any] = {
            "EventType": "WorkflowTask",
            "WorkflowTaskEvent": workflow_task(task),
            "EditMediaTaskEvent": None,
            "ScheduleTaskEvent": None,
            "SessionId": task.session_id,
            "SessionContext": task.session_context,
        }
        return Notice("WorkflowTask", body, task)

    def render(self, notice: Notice, *, url: str, key: str | None, now: datetime, corrupt: bool) -> Rendered:
        body = dict(notice.body)
        if key:
            expiry = int((now + SIGN_VALIDITY).timestamp())
            sign = mps_sign(key, expiry)
            body["Timestamp"] = expiry
            body["Sign"] = corrupt_hex(sign) if corrupt else sign
        return Rendered({"Content-Type": "application/json"}, compact(body))


def _storage(task: SimTask) -> dict[str, Any]:
    return {
        "Type": "COS",
        "CosOutputStorage": {"Bucket": str(task.extra["output_bucket"]), "Region": task.region},
        "S3OutputStorage": None,
    }


def meta_data(task: SimTask) -> dict[str, Any]:
    m = task.media
    return {
        "Size": m.size,
        "Container": m.container,
        "Bitrate": m.bitrate,
        "Height": m.height,
        "Width": m.width,
        "Duration": float32(m.duration),
        "Rotate": 0,
        "VideoStreamSet": [
            {"Bitrate": m.video_bitrate, "Height": m.height, "Width": m.width, "Codec": m.video_codec, "Fps": m.fps}
        ],
        "AudioStreamSet": [{"Bitrate": m.audio_bitrate, "SamplingRate": m.sampling_rate, "Codec": m.audio_codec}],
        "VideoDuration": float32(m.duration),
        "AudioDuration": float32(m.duration),
    }


def transcode_result(task: SimTask, output: SimOutput) -> dict[str, Any]:
    status = output.status if output.status != "WAITING" else "PROCESSING"
    failed = status == "FAIL"
    result: dict[str, Any] = {
        "Status": status,
        "ErrCodeExt": "SourceFileError" if failed else "",
        "ErrCode": 60000 if failed else 0,
        "Message": "source file err" if failed else "SUCCESS",
        "Input": {
            "Definition": definition(output),
            "WatermarkSet": [],
            "MosaicSet": [],
            "StartTimeOffset": 0,
            "EndTimeOffset": 0,
            "OutputStorage": None,
            "OutputObjectPath": "",
            "SegmentObjectName": "",
        },
        "Output": None,
        "Progress": 100 if output.done else (50 if status == "PROCESSING" and task.begin_at else 0),
    }
    if status == "SUCCESS":
        audio = task.media.audio_bitrate
        result["Output"] = {
            "OutputStorage": _storage(task),
            "Path": output.path,
            "Definition": definition(output),
            "Bitrate": output.bitrate,
            "Height": output.height,
            "Width": output.width,
            "Size": output.size,
            "Duration": float32(output.duration),
            "Container": output.container,
            "Md5": output.md5,
            "AudioStreamSet": [{"Bitrate": audio, "SamplingRate": task.media.sampling_rate, "Codec": "aac"}],
            "VideoStreamSet": [
                {
                    "Bitrate": output.bitrate - audio,
                    "Height": output.height,
                    "Width": output.width,
                    "Codec": "h264",
                    "Fps": output.fps,
                }
            ],
        }
    return result


def definition(output: SimOutput) -> int:
    return int(output.definition) if output.definition.isdigit() else 0


def workflow_task(task: SimTask) -> dict[str, Any]:
    items = []
    for output in task.outputs:
        item: dict[str, Any] = {"Type": "Transcode"}
        for key in MEDIA_RESULT_KEYS:
            item[key] = transcode_result(task, output) if key == "TranscodeTask" else None
        items.append(item)
    return {
        "TaskId": task.id,
        "Status": "FINISH" if task.finished else "PROCESSING",
        "ErrCode": 0,
        "Message": "SUCCESS",
        "InputInfo": {
            "Type": "COS",
            "CosInputInfo": {"Bucket": str(task.extra["bucket"]), "Region": task.region, "Object": task.file_url},
            "UrlInputInfo": None,
            "S3InputInfo": None,
        },
        "MetaData": meta_data(task),
        "MediaProcessResultSet": items,
        "AiContentReviewResultSet": [],
        "AiAnalysisResultSet": [],
        "AiRecognitionResultSet": [],
        "AiQualityControlTaskResult": None,
    }


def notify_config(task: SimTask) -> dict[str, Any] | None:
    config = task.extra.get("task_notify_config")
    return dict(config) if isinstance(config, dict) else None


def task_detail(task: SimTask) -> dict[str, Any]:
    """DescribeTaskDetail minus RequestId. WAITING tasks have no WorkflowTask yet."""
    return {
        "TaskType": "WorkflowTask",
        "Status": str(task.status),
        "CreateTime": iso(task.created_at),
        "BeginProcessTime": iso(task.begin_at),
        "FinishTime": iso(task.finish_at),
        "EditMediaTask": None,
        "WorkflowTask": workflow_task(task) if task.begin_at is not None else None,
        "LiveStreamProcessTask": None,
        "TaskNotifyConfig": notify_config(task),
        "TasksPriority": int(task.extra.get("tasks_priority", 0)),
        "SessionId": task.session_id,
        "SessionContext": task.session_context,
        "ExtInfo": "",
        "ScheduleTask": None,
        "LiveScheduleTask": None,
    }


def simple_info(task: SimTask) -> dict[str, Any]:
    return {
        "TaskId": task.id,
        "TaskType": "WorkflowTask",
        "CreateTime": iso(task.created_at),
        "BeginProcessTime": iso(task.begin_at),
        "FinishTime": iso(task.finish_at),
        "SubTaskTypes": ["Transcode"],
    }

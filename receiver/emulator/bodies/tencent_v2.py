"""Tencent VOD legacy (v2 / "callback 2.0"): `{"version":"4.0","eventType":…,"data":{…}}` callbacks and the
`data` blocks GetTaskInfo / GetProcedureInfo / GetTaskList answer from the same task state.

Legacy callbacks are unsigned (the reference: "the app server cannot authenticate the caller"). Key order
follows the documented field tables; times are unix seconds; bitrates bps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from receiver.emulator.bodies.common import Notice, Rendered, compact, notify_mode, unix
from receiver.emulator.bodies.tencent_common import (
    DEFAULT_APP_ID,
    KINDS,
    LEGACY,
    build_task,
    cover_url,
    definition_int,
    snapshot_offset_ms,
)
from receiver.emulator.config import Dialect, DialectConfig
from receiver.emulator.simulation import Change, SimOutput, SimTask, TaskRequest, TaskStatus

EVENT_TYPES = {
    "procedure": "ProcedureStateChanged",
    "transcode": "TranscodeComplete",
    "clip": "ClipComplete",
    "concat": "ConcatComplete",
    "snapshot": "CreateSnapshotByTimeOffsetComplete",
    "sprite": "CreateImageSpriteComplete",
}

#: GetTaskInfo / GetTaskList `type`, as the GetTaskInfo page lists them.
TASK_TYPES = {
    "procedure": "Procedure",
    "transcode": "transcode",
    "clip": "clip_media",
    "concat": "concatFile",
    "snapshot": "snapShotByTime",
    "sprite": "imageSprite",
}

FAIL_CODE = -45001  # a transcode-stage failure from the processing error table (-45xxx)
SUBTASK_FAIL_CODE = 30010  # "system failure or unknown" for a sub-task


class TencentV2Bodies:
    dialect = Dialect.TENCENT_VOD_V2
    kinds = KINDS

    def __init__(self, config: DialectConfig) -> None:
        self.app_id = config.app_id or DEFAULT_APP_ID
        self.region = config.region or "gz"

    def build(self, request: TaskRequest, ordinal: int, created_at: datetime, seed: int) -> SimTask:
        return build_task(request, ordinal, created_at, seed, flavor=LEGACY, app_id=self.app_id, region=self.region)

    def notices(self, change: Change, config: DialectConfig) -> list[Notice]:
        task = change.task
        if task.kind == "procedure" and notify_mode(task, config) == "Change":
            if change.kind == "output" and change.output is not None and change.at == task.finish_at:
                return []  # reported by the finish notice that follows
            return [self.notice(task)]
        if change.kind == "finish":
            return [self.notice(task)]
        return []

    def notice(self, task: SimTask) -> Notice:
        event_type = EVENT_TYPES[task.kind]
        body = {"version": "4.0", "eventType": event_type, "data": data_block(task)}
        return Notice(event_type, body, task)

    def render(self, notice: Notice, *, url: str, key: str | None, now: datetime, corrupt: bool) -> Rendered:
        return Rendered({"Content-Type": "application/json"}, compact(notice.body))


# --- data blocks ------------------------------------------------------------------------------------


def data_block(task: SimTask) -> dict[str, Any]:
    return {
        "procedure": procedure_data,
        "transcode": transcode_data,
        "clip": clip_data,
        "concat": concat_data,
        "snapshot": snapshot_data,
        "sprite": sprite_data,
    }[task.kind](task)


def meta_data(task: SimTask) -> dict[str, Any]:
    m = task.media
    return {
        "size": m.size,
        "container": "mp4",
        "bitrate": m.bitrate,
        "height": m.height,
        "width": m.width,
        "md5": m.md5,
        "duration": int(m.duration),
        "rotate": 0,
        "videoStreamList": [
            {"bitrate": m.video_bitrate, "height": m.height, "width": m.width, "codec": m.video_codec, "fps": m.fps}
        ],
        "audioStreamList": [{"bitrate": m.audio_bitrate, "samplingRate": m.sampling_rate, "codec": m.audio_codec}],
    }


def _stream_lists(task: SimTask, output: SimOutput) -> dict[str, Any]:
    audio = task.media.audio_bitrate
    return {
        "videoStreamList": [
            {
                "bitrate": output.bitrate - audio,
                "height": output.height,
                "width": output.width,
                "codec": "h264",
                "fps": output.fps,
            }
        ],
        "audioStreamList": [{"bitrate": audio, "samplingRate": task.media.sampling_rate, "codec": "aac"}],
    }


def process_task(task: SimTask, output: SimOutput) -> dict[str, Any]:
    status = output.status if output.status != "WAITING" else "PROCESSING"
    item: dict[str, Any] = {
        "taskType": "Transcode",
        "status": status,
        "errCode": SUBTASK_FAIL_CODE if status == "FAIL" else 0,
        "message": "TencentVodPlatErr Or Unkown" if status == "FAIL" else "",
        "input": {"definition": definition_int(output), "watermark": 0},
    }
    if status == "SUCCESS":
        item["output"] = {
            "url": output.url,
            "size": output.size,
            "container": output.container,
            "bitrate": output.bitrate,
            "height": output.height,
            "width": output.width,
            "md5": output.md5,
            "duration": int(output.duration),
            **_stream_lists(task, output),
        }
    return item


def procedure_data(task: SimTask) -> dict[str, Any]:
    return {
        "vodTaskId": task.id,
        "status": "FINISH" if task.finished else "PROCESSING",
        "errCode": 0,
        "message": "",
        "fileId": task.file_id,
        "metaData": meta_data(task),
        "processTaskList": [process_task(task, o) for o in task.outputs],
    }


def transcode_data(task: SimTask) -> dict[str, Any]:
    ok = [o for o in task.outputs if o.status == "SUCCESS"]
    if task.finished and not ok:
        return {"status": FAIL_CODE, "message": "transcode failed", "vodTaskId": task.id, "fileId": task.file_id}
    play_set = [
        {"url": o.url, "definition": definition_int(o), "vbitrate": o.bitrate, "vheight": o.height, "vwidth": o.width}
        for o in ok
    ]
    return {
        "status": 0,
        "message": "",
        "vodTaskId": task.id,
        "fileId": task.file_id,
        "fileName": task.file_name,
        "duration": int(task.media.duration),
        "coverUrl": cover_url(task),
        "playSet": play_set,
    }


def _file_info(task: SimTask, output: SimOutput) -> dict[str, Any]:
    if output.status == "FAIL":
        return {"status": -1 if task.kind == "concat" else -43001, "message": "source file error"}
    return {
        "fileType": output.container,
        "status": 0,
        "message": "",
        "fileId": str(task.extra.get("new_file_id", "")),
        "fileUrl": output.url,
    }


def clip_data(task: SimTask) -> dict[str, Any]:
    return {"vodTaskId": task.id, "srcFileId": task.file_id, "fileInfo": _file_info(task, task.outputs[0])}


def concat_data(task: SimTask) -> dict[str, Any]:
    infos = [_file_info(task, o) for o in task.outputs]
    failed = all(o.status == "FAIL" for o in task.outputs)
    return {"vodTaskId": task.id, "status": -1 if failed else 0, "message": "", "fileInfo": infos}


def snapshot_data(task: SimTask) -> dict[str, Any]:
    pictures: list[dict[str, Any]] = []
    for output in task.outputs:
        if output.status == "FAIL":
            pictures.append({"timeOffset": snapshot_offset_ms(output), "status": -46204})
        else:
            pictures.append({"timeOffset": snapshot_offset_ms(output), "url": output.url, "status": 0})
    return {
        "vodTaskId": task.id,
        "fileId": task.file_id,
        "definition": definition_int(task.outputs[0]),
        "picInfo": pictures,
    }


def sprite_data(task: SimTask) -> dict[str, Any]:
    output = task.outputs[0]
    if task.finished and output.status == "FAIL":
        return {"status": -44001, "message": "image sprite failed", "vodTaskId": task.id, "fileId": task.file_id}
    count = max(1, int(task.media.duration // 10))
    return {
        "status": 0,
        "message": "",
        "vodTaskId": task.id,
        "fileId": task.file_id,
        "definition": definition_int(output),
        "totalCount": count,
        "imageSpriteUrl": [output.url],
        "webVttUrl": output.url.rsplit("_", 1)[0] + ".vtt",
    }


# --- query answers ----------------------------------------------------------------------------------


def task_info(task: SimTask) -> dict[str, Any]:
    """GetTaskInfo: `data` is the callback's data block for the task's type, absent while WAITING."""
    answer: dict[str, Any] = {
        "code": 0,
        "codeDesc": "Success",
        "message": "",
        "type": TASK_TYPES[task.kind],
        "status": str(task.status),
        "createTime": unix(task.created_at),
        "beginProcessTime": unix(task.begin_at),
        "finishTime": unix(task.finish_at),
    }
    if task.status is not TaskStatus.WAITING:
        answer["data"] = data_block(task)
    return answer


def procedure_info(task: SimTask) -> dict[str, Any]:
    """GetProcedureInfo (seed 000): the procedure block flattened into the answer."""
    block = procedure_data(task)
    return {
        "code": 0,
        "codeDesc": "Success",
        "message": "",
        "status": block["status"],
        "errCode": block["errCode"],
        "fileId": block["fileId"],
        "metaData": block["metaData"],
        "processTaskList": block["processTaskList"],
    }


def list_item(task: SimTask) -> dict[str, Any]:
    """One GetTaskList entry, the real answer's shape (TCPICLI): no per-task status."""
    return {
        "vodTaskId": task.id,
        "type": TASK_TYPES[task.kind],
        "createTime": unix(task.created_at),
        "beginProcessTime": unix(task.begin_at),
        "finishTime": unix(task.finish_at),
    }

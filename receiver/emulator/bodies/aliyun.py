"""Alibaba Cloud VOD (2017-03-21): StreamTranscodeComplete per finished rendition, TranscodeComplete at the
end, and GetTranscodeTask / ListTranscodeTask answers from the same task state.

Byte notes (reference §2.9, §8): compact JSON; top level `Status, VideoId, EventType, EventTime,
StreamInfos`; stream keys `Status, IsAudio, Size, Definition, Fps, StartTime, Duration, Bitrate, Encrypt,
FileUrl, Format, FinishTime, Height, Width, JobId`; Bitrate (kbps) and Fps are strings; headers of the
Java client that sends them; with an AuthKey, `X-VOD-TIMESTAMP` and `X-VOD-SIGNATURE = md5(url|ts|key)`.
Callbacks and GetTranscodeTask name the same tier differently (FD/LD/SD/HD vs LD/SD/HD/FHD, quirk 6).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from receiver.emulator.bodies.common import (
    Notice,
    Rendered,
    Rendition,
    base_task,
    check_kind,
    compact,
    corrupt_hex,
    iso,
    make_media,
    plan_outputs,
)
from receiver.emulator.config import Dialect, DialectConfig
from receiver.emulator.ids import IdSource
from receiver.emulator.signers import aliyun_sign
from receiver.emulator.simulation import Change, SimOutput, SimTask, TaskRequest, TaskStatus

KINDS = ("transcode",)
USER_AGENT = "Apache-HttpClient/4.4.1 (Java/1.8.0_152)"
RENDITIONS = (
    Rendition("FD", 640, 360, 421_000, "m3u8"),
    Rendition("LD", 960, 540, 779_000, "m3u8"),
    Rendition("SD", 1280, 720, 1_110_000, "m3u8"),
)
#: Callback tier label -> GetTranscodeTask label for the same tier.
QUERY_DEFINITION = {"FD": "LD", "LD": "SD", "SD": "HD", "HD": "FHD"}
FAIL_CODE = "InvalidParameter.ResourceContentBad"
FAIL_MESSAGE = "The resource operated InputFile is bad"


class AliyunBodies:
    dialect = Dialect.ALIYUN_VOD
    kinds = KINDS

    def __init__(self, config: DialectConfig) -> None:
        self.region = config.region or "cn-shanghai"
        self.user_agent = config.user_agent or USER_AGENT

    def build(self, request: TaskRequest, ordinal: int, created_at: datetime, seed: int) -> SimTask:
        kind = check_kind(request, KINDS)
        ids = IdSource(seed, "task", ordinal)
        media = make_media(ids)
        outputs = plan_outputs(request, RENDITIONS, ids, media)
        video_id = request.file_id or ids.hex(32)
        host = f"http://outin-{ids.hex(32)}.oss-{self.region}.aliyuncs.com"
        source = f"{host}/customerTrans/{ids.hex(32)}/{ids.aliyun_source_name()}.mp4"
        task = base_task(
            request,
            ordinal=ordinal,
            created_at=created_at,
            kind=kind,
            task_id=ids.hex(32),
            file_id=video_id,
            file_name=source.rsplit("/", 1)[-1],
            file_url=source,
            media=media,
            outputs=outputs,
            app_id="app-1000000",
            region=self.region,
        )
        task.extra.setdefault("template_group_id", ids.hex(32))
        for output in outputs:
            output.url = f"{host}/{task.file_id}/{ids.hex(32)}-{output.definition.lower()}.{output.container}"
        return task

    def notices(self, change: Change, config: DialectConfig) -> list[Notice]:
        task = change.task
        notices: list[Notice] = []
        if change.kind == "output" and change.output is not None:
            notices.append(self.stream_notice(task, change.output))
        if change.kind == "finish":
            notices.append(self.task_notice(task))
        return notices

    def stream_notice(self, task: SimTask, output: SimOutput) -> Notice:
        stream = stream_info(output)
        body: dict[str, Any] = {
            "Status": stream.pop("Status"),
            "VideoId": task.file_id,
            "EventType": "StreamTranscodeComplete",
            "EventTime": iso(output.finished_at),
            **stream,
        }
        if task.extend is not None:
            body["Extend"] = task.extend
        return Notice("StreamTranscodeComplete", body, task)

    def task_notice(self, task: SimTask) -> Notice:
        body: dict[str, Any] = {
            "Status": "success" if task.succeeded_outputs else "fail",
            "VideoId": task.file_id,
            "EventType": "TranscodeComplete",
            "EventTime": iso(task.finish_at),
            "StreamInfos": [stream_info(o) for o in task.outputs],
        }
        if task.extend is not None:
            body["Extend"] = task.extend
        return Notice("TranscodeComplete", body, task)

    def render(self, notice: Notice, *, url: str, key: str | None, now: datetime, corrupt: bool) -> Rendered:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            "Accept-Encoding": "gzip,deflate",
            "Connection": "Keep-Alive",
        }
        if key:
            timestamp = int(now.timestamp())
            signature = aliyun_sign(url, timestamp, key)
            headers["X-VOD-TIMESTAMP"] = str(timestamp)
            headers["X-VOD-SIGNATURE"] = corrupt_hex(signature) if corrupt else signature
        return Rendered(headers, compact(notice.body))


def stream_info(output: SimOutput) -> dict[str, Any]:
    failed = output.status == "FAIL"
    info: dict[str, Any] = {
        "Status": "fail" if failed else "success",
        "IsAudio": False,
        "Size": 0 if failed else output.size,
        "Definition": output.definition,
        "Fps": str(output.fps),
        "StartTime": iso(output.begin_at),
        "Duration": round(output.duration, 6),
        "Bitrate": str(round(output.bitrate / 1000)),
        "Encrypt": False,
        "FileUrl": output.url,
        "Format": output.container,
        "FinishTime": iso(output.finished_at),
        "Height": output.height,
        "Width": output.width,
        "JobId": output.job_id,
    }
    if failed:
        info["ErrorCode"] = FAIL_CODE
        info["ErrorMessage"] = FAIL_MESSAGE
    return info


# --- query answers ----------------------------------------------------------------------------------


def task_status(task: SimTask) -> str:
    if not task.finished:
        return "Partial" if any(o.done for o in task.outputs) else "Processing"
    if task.failed_outputs == 0:
        return "CompleteAllSucc"
    if task.succeeded_outputs == 0:
        return "CompleteAllFail"
    return "CompletePartialSucc"


def _job_status(output: SimOutput) -> str:
    return {"SUCCESS": "TranscodeSuccess", "FAIL": "TranscodeFail"}.get(output.status, "Transcoding")


def _stream_lists(task: SimTask, output: SimOutput) -> tuple[str, str]:
    audio = task.media.audio_bitrate
    video = [
        {
            "AvgFPS": str(output.fps),
            "Bitrate": f"{(output.bitrate - audio) / 1000:.3f}",
            "CodecLongName": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
            "CodecName": "h264",
            "CodecTag": "0x001b",
            "CodecTagString": "[27][0][0][0]",
            "CodecTimeBase": f"1/{output.fps * 2}",
            "Dar": "16:9",
            "Duration": f"{output.duration:.6f}",
            "Fps": str(output.fps),
            "HasBFrames": "2",
            "Height": str(output.height),
            "Index": "0",
            "Level": "31",
            "PixFmt": "yuv420p",
            "Profile": "High",
            "Sar": "1:1",
            "StartTime": "1.400000",
            "Timebase": "1/90000",
            "Width": str(output.width),
        }
    ]
    sound = [
        {
            "Bitrate": f"{audio / 1000:.3f}",
            "ChannelLayout": "stereo",
            "Channels": "2",
            "CodecLongName": "AAC (Advanced Audio Coding)",
            "CodecName": "aac",
            "CodecTag": "0x000f",
            "CodecTagString": "[15][0][0][0]",
            "CodecTimeBase": f"1/{task.media.sampling_rate}",
            "Duration": f"{output.duration:.6f}",
            "Index": "1",
            "SampleFmt": "fltp",
            "Samplerate": str(task.media.sampling_rate),
            "StartTime": "1.400000",
            "Timebase": "1/90000",
        }
    ]
    return json.dumps(video, separators=(",", ":")), json.dumps(sound, separators=(",", ":"))


def job_info(task: SimTask, output: SimOutput) -> dict[str, Any]:
    done = output.done
    info: dict[str, Any] = {
        "TranscodeJobId": output.job_id,
        "TranscodeTemplateId": f"{output.job_id[:16]}{output.index:016x}",
        "TranscodeJobStatus": _job_status(output),
        "TranscodeProgress": 100 if done else (50 if task.status is TaskStatus.PROCESSING else 0),
        "Priority": "6",
        "Definition": QUERY_DEFINITION.get(output.definition, output.definition),
        "InputFileUrl": task.file_url,
        "CreationTime": iso(task.created_at),
        "CompleteTime": iso(output.finished_at, ""),
    }
    if output.status == "FAIL":
        info["ErrorCode"] = FAIL_CODE
        info["ErrorMessage"] = FAIL_MESSAGE
    video, audio = _stream_lists(task, output)
    ok = output.status == "SUCCESS"
    info["OutputFile"] = {
        "OutputFileUrl": output.url if ok else output.url.rsplit("/", 1)[0] + "/{DestMd5}.m3u8",
        "Format": output.container,
        "Filesize": output.size if ok else 0,
        "Bitrate": f"{output.bitrate / 1000:.0f}",
        "Duration": f"{output.duration:.0f}",
        "Fps": str(output.fps),
        "Height": str(output.height),
        "Width": str(output.width),
        "Encryption": "{}",
        "VideoStreamList": video if ok else "[]",
        "AudioStreamList": audio if ok else "[]",
        "SubtitleStreamList": "[]",
        "WatermarkIdList": [],
    }
    return info


def transcode_task(task: SimTask) -> dict[str, Any]:
    return {
        "TranscodeTaskId": task.id,
        "VideoId": task.file_id,
        "TaskStatus": task_status(task),
        "Trigger": task.trigger,
        "TranscodeTemplateGroupId": str(task.extra["template_group_id"]),
        "CreationTime": iso(task.created_at),
        "CompleteTime": iso(task.finish_at, ""),
        "TranscodeJobInfoList": [job_info(task, o) for o in task.outputs],
    }


def list_item(task: SimTask) -> dict[str, Any]:
    full = transcode_task(task)
    full.pop("TranscodeJobInfoList")
    return full


def video_status(tasks: list[SimTask]) -> str:
    """GetVideoList's `Status` of a video from its transcode tasks (the newest decides)."""
    newest = max(tasks, key=lambda t: (t.created_at, t.ordinal))
    if not newest.finished:
        return "Transcoding"
    return "TranscodeFail" if newest.succeeded_outputs == 0 else "Normal"


def video_item(tasks: list[SimTask]) -> dict[str, Any]:
    """One `VideoList.Video` entry of GetVideoList: the video its tasks transcode, created with the first one
    (an upload starts its transcode task, so the emulator has no video without a task)."""
    first = min(tasks, key=lambda t: (t.created_at, t.ordinal))
    changed = max((t.finish_at or t.begin_at or t.created_at) for t in tasks)
    host = first.file_url.split("/customerTrans/", 1)[0].removeprefix("http://")
    return {
        "VideoId": first.file_id,
        "Title": first.file_name.rsplit(".", 1)[0],
        "Status": video_status(tasks),
        "CreationTime": iso(first.created_at),
        "ModificationTime": iso(changed),
        "Duration": round(first.media.duration, 3),
        "Size": first.media.size,
        "StorageLocation": host,
        "AppId": first.app_id,
        "Snapshots": [],
    }

"""Alibaba Cloud ApsaraVideo VOD (`aliyun-vod`): flat `{"EventType": …, "VideoId": …, "Status": …}` callbacks.

Reference: shared/providers/aliyun-vod.md (§1–§3, §6); seeds 003 and 004 (GetTranscodeTask).

**Delivery and our answer.** HTTP POST of compact JSON, or the same JSON as an MNS queue message (possibly
Base64-encoded: `decode` accepts both). Only HTTP 200 counts; anything else (3xx included) or a 5 s timeout
is retried twice, 1 s apart, then the event is dropped. A 503 therefore buys two more tries within ~2 s,
no more; the fallback poller (GetTranscodeTask/ListTranscodeTask) is the safety net. Signature:
`X-VOD-TIMESTAMP`/`X-VOD-SIGNATURE` = md5("<public_url>|<timestamp>|<AuthKey>"), see `verify.py`.

**Detection.** A JSON object with a text `EventType` and at least one key only Alibaba sends at the top level
(VideoId, MediaId, ImageId, AttachedMediaId, EventTime, Status, StreamInfos, SnapshotInfos, JobId, Extend,
FileUrl/FileURL, ProjectId, DynamicImageJobInfo), or an `X-VOD-SIGNATURE` header; and none of the Tencent
envelope keys (`<Name>Event`, `<Name>Task`, EventHandle, SessionId, SessionContext, Sign, T, Timestamp).
Tencent VOD 3.0 and MPS also use `EventType`, but always beside a nested `…Event`/`…Task` object and never
with these flat keys. Also claimed, for replays of polled captures: GetTranscodeTask/ListTranscodeTask answers
(`TranscodeTask` holding a TaskStatus or TranscodeTaskId, or a `TranscodeTaskList`/`TranscodeJobInfoList`
of items with Alibaba ids; Tencent's DescribeTaskDetail also has a `TranscodeTask`, with other keys).

**How callbacks attach to tasks.** Transcode callbacks carry a VideoId and per-stream JobIds but no
TranscodeTaskId, and normalization is stateless (it cannot look up which task a JobId belongs to). So the
transcode task is *the video's transcoding*: `task_id = "transcode:<VideoId>"` for TranscodeComplete,
StreamTranscodeComplete, and every GetTranscodeTask/ListTranscodeTask answer (whose TranscodeTaskId is kept
in `extra.transcode_task_id`, its jobs' ids in `extra.jobs`). A poll therefore always lands on the task the
callbacks built, whichever arrives first. Re-transcoding a video (SubmitTranscodeJobs) reports on the same
task: outputs are keyed by definition tier and container (below), so a re-transcoded rendition replaces the
old one, as Alibaba itself replaces the video's stream of that definition and format; the newer terminal
report wins by provider time. The price: while a re-transcode runs, the task still shows the previous run as
finished (status never moves back), and a ListTranscodeTask answer gives one event per historical task, all
on this one task. Keying by TranscodeTaskId instead would leave every callback unattached until a poll.
The fallback poller resolves `transcode:<VideoId>` (`video_of_task`) with ListTranscodeTask(VideoId), then
GetTranscodeTask(TranscodeTaskId) of the newest task.
Other task ids: `snapshot:<VideoId>` (ListSnapshots is per video too), `dynamicimage:<JobId>`,
`urlupload:<JobId>` (a failed URL pull has no VideoId), `produce:<ProjectId>`. Everything else is a media
event (`task_id` null, `media_id` set; the task store keys it `media:<id>`).

| EventType | task_id | media_id | task_kind | status / outcome | outputs (key) |
|---|---|---|---|---|---|
| TranscodeComplete | transcode:VideoId | VideoId | transcode | finished; outcome from StreamInfos[].Status (all success → success, all fail → failed, mixed → partial); top `Status` only when no stream has one; a contradiction adds a warning | one per stream: `<tier>/<container>` |
| StreamTranscodeComplete | transcode:VideoId | VideoId | transcode | processing (never finishes the video); the output is finished with its Status | `<tier>/<container>` |
| SnapshotComplete | snapshot:VideoId (no VideoId: snapshot-job:<first JobId>) | VideoId | snapshot | finished; from SnapshotInfos[].Status, else Status | `<SnapshotType>` (urls from SnapshotRegular, `{SnapshotCount}` → 00001…), `cover` |
| DynamicImageComplete | dynamicimage:JobId | VideoId | animated_graphics | finished; Status | `animation` |
| UploadByURLComplete | urlupload:JobId | VideoId | pull | finished; Status | `mezzanine` (success only) |
| ProduceMediaComplete | produce:ProjectId | MediaId | edit | finished; Status | – |
| FileUploadComplete | – | VideoId | upload | finished; Status, missing → success (uploads never report failure) | `mezzanine` |
| ImageUploadComplete | – | ImageId | upload | as above | `mezzanine` (image) |
| AttachedMediaUploadComplete | – | AttachedMediaId | upload | as above | `mezzanine` |
| VideoAnalysisComplete | – | VideoId | analysis | finished; Status | `mezzanine-metadata` (success only) |
| AIMediaAuditComplete | – | MediaId | review | finished; Status (Code/Message the error when ≠ "0") | – ; JobId, Data (parsed when text) in extra |
| AIMediaDNAComplete, AIVideoTagComplete | – | MediaId | analysis | as above | – |
| CreateAuditComplete | – | MediaId | review | finished; Status (AuditStatus Normal/Blocked in extra) | – |
| DeleteMediaComplete | – | MediaId | delete | finished; Status | – |
| MediaBaseChangeComplete | – | MediaId | other | finished; Status | – ; MediaContent with each value parsed |
| LiveRecordVideoComposeStart | – | VideoId | compose | success → processing; fail → finished/failed | – |
| AddLiveRecordVideoComplete | – | VideoId | compose | finished; Status | – |
| anything else | – | VideoId/MediaId/ImageId/AttachedMediaId | other | none (changes nothing); the whole body in extra.body | – |
| GetTranscodeTask | transcode:VideoId (by JobIds: the query's task id hint) | VideoId | transcode | TaskStatus, reconciled with the jobs | one per job: `<tier>/<container>` |
| ListTranscodeTask | transcode:VideoId, one event per task | VideoId | transcode | TaskStatus | – |

Callback `Status` (success | fail): success → finished/success, fail → finished/failed; other spellings
(`Success`, `succeed`, `failed`) are read with a warning; `provider_status` keeps the word verbatim.

| TaskStatus | status | outcome |
|---|---|---|
| Processing | processing | – |
| Partial (some jobs done, task still running) | processing | – |
| CompleteAllSucc (also the docs' CompleteAllSucces, CompeleteAllSucc: read with a warning) | finished | success |
| CompleteAllFail | finished | failed |
| CompletePartialSucc | finished | partial |
| TranscodeJobStatus Transcoding / TranscodeSuccess / TranscodeFail (per output) | processing / finished / finished | – / success / failed |

When the task word and the job results disagree, the results decide and a warning names both (seed 003:
CompleteAllSucc beside a TranscodeFail job → partial). A task word saying complete while jobs still run is
kept, with a warning. Error codes and messages are kept only on failed outputs: the 2021 doc puts
`"ErrorCode":"200","ErrorMessage":"ErrorMessage"` on a job still transcoding.

**Definitions.** Callbacks and GetTranscodeTask name the same tiers with different words (reference §6.6);
seed 003 settles which way: its GetTranscodeTask "LD" jobs are 640×360 and their URLs end in `-fd`. Every
definition is normalized to the callback (playback, GetPlayInfo) vocabulary:

| tier | callback word = normalized | GetTranscodeTask word |
|---|---|---|
| 流畅 (fluent, lowest) | FD | LD |
| 标清 (standard) | LD | SD |
| 高清 (high) | SD | HD |
| 超清 (ultra) | HD | FHD |
| 原画 (original) | OD | OD |
| 2K / 4K | 2K / 4K | 2K / 4K |
| audio: standard / high quality | SQ / HQ | SQ / HQ |
| adaptive | AUTO | AUTO |

A suffix some templates add (`HD-MP4`) stays in `Output.definition` but not in the key. Output key:
`<tier>/<container>` (`FD/m3u8`, `LD/mp4`), or `job:<JobId>` without a definition (JobId = TranscodeJobId);
a second output with the same key in one report gets `#<JobId>` appended.

**Units.** Bitrates: Alibaba sends kbps everywhere (callback `Bitrate` "1110", query `Bitrate` "964",
stream lists "933.814"; the real capture's 640×360 at "421" can only be kbps) → `bitrate_bps` = kbps × 1000.
Sizes bytes (`Size`, `Filesize`, `FileSize`), durations seconds (float), fps float (sent as text), width and
height pixels. Zeros (a failed job's `"Width":"0"`, `"Filesize":0`) are null: nothing was produced. A failed
job's `OutputFileUrl` still holding `{DestMd5}` is a template, not a file: url null. Kinds: IsAudio, an
audio definition (SQ/HQ) or an audio container → audio; m3u8/mpd → streaming; else video.

**Times.** `EventTime` → updated_at, and finished_at for terminal reports; streams' StartTime → started_at.
GetTranscodeTask: CreationTime → created_at, CompleteTime → finished_at (only when finished; the 2021 doc
gives one to a Processing task), the latest job CompleteTime/FinishTime → updated_at. All UTC; `…:SSSZ`
milliseconds accepted; malformed values (`019-01-23T12:35:12Z`) are null with a warning.

**Extend** (the upload's or job's UserData pass-through) → `session.context` as text, and `extra.extend`
parsed when it is JSON (it arrives as plain text, JSON text, or an object). Query answers leave `RequestId`
out of the event, so the same state polled twice yields the same event id.

**Fixtures' signed variants** (`fixtures/aliyun-vod/*__signed.headers.json`) were made with AuthKey
`AbCd1234` for public_url `http://127.0.0.1:8000/vod/callback` at timestamp 1700000000 (reference §3's
worked example, signature `4f775bf180ad97d130de9b590e62819e`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from receiver.dialects.aliyun_vod import fast
from receiver.dialects.aliyun_vod.normalize import DIALECT_NAME, normalize, video_of_task
from receiver.dialects.aliyun_vod.verify import sign, verify
from receiver.dialects.base import (
    Dialect,
    NormalizeContext,
    RawCallback,
    SigningPolicy,
    Unidentifiable,
    Verification,
    checked_document,
)
from receiver.dialects.base import decode_json as _decode_json
from receiver.model import Event, Provider

__all__ = ["DIALECT", "AliyunVod", "sign", "video_of_task"]

#: Top-level keys Alibaba's flat bodies have and Tencent's envelopes never do.
ALIBABA_KEYS = frozenset(
    {
        "VideoId",
        "MediaId",
        "ImageId",
        "AttachedMediaId",
        "EventTime",
        "Status",
        "StreamInfos",
        "SnapshotInfos",
        "JobId",
        "Extend",
        "FileUrl",
        "FileURL",
        "ProjectId",
        "DynamicImageJobInfo",
    }
)
#: Top-level keys of Tencent VOD 3.0 and MPS envelopes (besides any `…Event` / `…Task` key).
TENCENT_KEYS = frozenset({"EventHandle", "SessionId", "SessionContext", "Sign", "T", "Timestamp"})


@dataclass
class AliyunVod(Dialect):
    name: ClassVar[str] = DIALECT_NAME
    provider: ClassVar[Provider] = Provider.ALIYUN_VOD
    ack_semantics: ClassVar[str] = (
        "only HTTP 200 counts; any other status (3xx too) or a 5 s timeout is retried twice, 1 s apart, then "
        "dropped: a 503 buys two more tries within ~2 s (MNS: delivery is the enqueue, our answer is moot)"
    )

    def detect(self, document: Any, headers: Mapping[str, str]) -> bool:
        if not isinstance(document, dict):
            return False
        keys = {key.strip() for key in document if isinstance(key, str)}
        if "EventType" not in keys:
            return is_query_answer(document)
        if keys & TENCENT_KEYS or any(key.endswith(("Event", "Task")) for key in keys):
            return False
        return bool(keys & ALIBABA_KEYS) or "x-vod-signature" in headers

    def verify(self, raw: RawCallback, policy: SigningPolicy, now: datetime) -> Verification:
        return verify(raw, policy, now)

    def decode(self, body: bytes) -> Any:
        """JSON, or Base64-encoded JSON (MNS queues may deliver the message body encoded), or JSON with raw
        control characters inside strings (the DynamicImageComplete doc sample)."""
        try:
            document = _decode_json(body)
        except Unidentifiable as error:
            document = _lenient_json(body)
            if document is None:
                document = _from_base64(body)
            if document is None:
                raise error from None
        if isinstance(document, str):  # a relay that posted the Base64 text as a JSON string
            inner = _from_base64(document.encode("utf-8", "replace"))
            if inner is not None:
                return inner
        return document

    def normalize(self, document: Any, ctx: NormalizeContext) -> list[Event]:
        return normalize(document, ctx)

    def normalize_body(self, body: bytes, ctx: NormalizeContext) -> list[Event]:
        events = fast.normalize_body(body, ctx)
        return events if events is not None else normalize(self.decode(body), ctx)


def is_query_answer(document: dict[str, Any]) -> bool:
    """A GetTranscodeTask or ListTranscodeTask answer, told from Tencent's DescribeTaskDetail (which also has
    a `TranscodeTask` key) by the Alibaba names inside."""
    if "TaskType" in document:  # Tencent's DescribeTaskDetail
        return False
    task = document.get("TranscodeTask")
    if isinstance(task, dict) and ("TaskStatus" in task or "TranscodeTaskId" in task):
        return True
    for key, inner in (("TranscodeTaskList", "TranscodeTaskId"), ("TranscodeJobInfoList", "TranscodeJobId")):
        items = document.get(key)
        if isinstance(items, list) and any(isinstance(item, dict) and inner in item for item in items):
            return True
    return False


def _lenient_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8-sig")
        return checked_document(json.loads(text, strict=False), text)
    except (UnicodeDecodeError, RecursionError, ValueError):  # JSONDecodeError is a ValueError
        return None


def _from_base64(body: bytes) -> Any:
    compact = b"".join(body.split())
    if not compact:
        return None
    compact += b"=" * (-len(compact) % 4)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    document = _lenient_json(decoded)
    return document if isinstance(document, dict | list) else None


DIALECT = AliyunVod()

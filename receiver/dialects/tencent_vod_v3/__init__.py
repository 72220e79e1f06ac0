"""Tencent Cloud VOD, API 3.0 (`tencent-vod-v3`): `{"EventType": …, "<Xxx>Event": {…}, <other *Event>: null}`.

Reference: shared/providers/tencent-vod.md §1, §3, §4, §5, §7 and Appendix A (the SDK's 3.0 structures).

**Delivery and our answer.** The 3.0 push's ack and retry rules are undocumented (§7.1); we answer 200
fast and de-duplicate on content. In reliable mode (`PullEvents`/`ConfirmEvents`) unconfirmed events come
back after 30 s, so an event we cannot store is simply not confirmed. The optional signature (`Sign` =
md5(SignKey + T), T an expiry) is checked in `verify.py`, which also says where we look for it.

**Detection.** A top-level `EventType` next to a VOD event key (`ProcedureStateChangeEvent`,
`FileUploadEvent`, … or any other `<Xxx>Event` key) or an `EventHandle`. MPS bodies (EventType
WorkflowTask/EditMediaTask/ScheduleTask/BatchTask/ExtractBlindWatermark, keys `WorkflowTaskEvent`, …) and
Alibaba bodies (EventType without any `<Xxx>Event` key) are not ours. PullEvents answers (`EventSet`) and
DescribeTaskDetail answers (`TaskType` with a VOD task key such as `ProcedureTask`) are recognised too.

| EventType | object key (drifted names also read) | task_id | task_kind | media_id | status / outcome | outputs (key) |
|---|---|---|---|---|---|---|
| ProcedureStateChanged | ProcedureStateChangeEvent | TaskId | procedure | FileId | Status word; outcome from the sub-tasks (MediaProcessResultSet and the AI sets), the deprecated task ErrCode only when there are none | one per MediaProcessResultSet item: `<Type>:<Definition>#<n>` |
| NewFileUpload | FileUploadEvent | – (media event) | upload | FileId | finished / success | `File#0` (MediaUrl, MetaData) |
| FileDeleted | FileDeleteEvent | – (media event, one per FileIdSet/FileDeleteResultInfo file) | delete | each FileId | finished / success | – |
| PullComplete | PullCompleteEvent | TaskId | pull | FileId | Status word; ErrCode 0 → success | `File#0` |
| EditMediaComplete | EditMediaCompleteEvent, EditMediaComplete | TaskId | edit | Output.FileId | Status word; ErrCodeExt/ErrCode | `File#0` |
| ComposeMediaComplete | ComposeMediaCompleteEvent | TaskId | compose | Output.FileId | as EditMedia | `File#0` |
| SplitMediaComplete | SplitMediaCompleteEvent | TaskId | split | segments' Input.FileId | as EditMedia | `File#<segment>` |
| RemoveWatermark | RemoveWatermarkCompleteEvent | TaskId | watermark | Input.FileId | as EditMedia | `File#0` |
| RebuildMediaComplete | RebuildMediaCompleteEvent | TaskId | rebuild | Input.FileId | as EditMedia | `File#0` |
| ClipComplete (2017) | ClipCompleteEvent | TaskId | clip | SrcFileId | finished; FileInfo.ErrCode | `Clip#0` |
| TranscodeComplete (2017) | TranscodeCompleteEvent | TaskId | transcode | FileId | finished; ErrCode | `Transcode:<Definition>#<n>`, `Cover#0` |
| ConcatComplete (2017) | ConcatCompleteEvent | TaskId | concat | – | finished; per FileInfoSet ErrCode | `Concat:<FileType>#<n>` |
| CreateSnapshotByTimeOffsetComplete (2017; also `SnapshotByTimeOffsetComplete`) | SnapshotByTimeOffsetCompleteEvent | TaskId | snapshot | FileId | finished; per picture ErrCode | `SnapshotByTimeOffset:<Definition>:<TimeOffset>` |
| CreateImageSpriteComplete (2017) | CreateImageSpriteCompleteEvent | TaskId | sprite | FileId | finished; ErrCode | `ImageSprites:<Definition>#0` |
| WechatPublishComplete, WechatMiniProgramPublishComplete | …CompleteEvent, WechatPublishComplete, WechatMiniProgramPublishEvent | TaskId | publish | FileId | Status word; ErrCode, WechatStatus/PublishResult | `Publish#0` |
| RestoreMediaComplete | RestoreMediaCompleteEvent | – (media event) | restore | FileId | finished; integer Status 0 → success | – |
| ReviewAudioVideoComplete | ReviewAudioVideoCompleteEvent | TaskId | review | Input.FileId | Status word; ErrCodeExt | – (verdict in extra.ReviewResult) |
| ReduceMediaBitrateComplete | ReduceMediaBitrateCompleteEvent | TaskId | transcode | FileId | as ProcedureStateChanged | as ProcedureStateChanged |
| QualityEnhanceComplete | QualityEnhanceCompleteEvent | TaskId | transcode | Input.FileId | as EditMedia | `File#0` |
| Extract{Trace,CopyRight,Blind}WatermarkComplete, DescribeFileAttributesComplete, QualityInspectComplete, ComplexAdaptiveDynamicStreamingComplete, ProcessMediaByMPSComplete, PersistenceComplete, MediaCastStatusChanged, Aigc{Image,Video}TaskComplete | `<Name>Event` / SDK name | TaskId | watermark / analysis / transcode / workflow / other | FileId | Status word; ErrCodeExt/ErrCode | from a MediaProcessResultSet if any; `Output`, `MetaData` in extra |
| anything else | `<EventType>Event`, `<EventType>`, else the only object present | TaskId | other | FileId | as read (never rejected; a warning says it is unknown) | object kept verbatim in extra |

An upload, pull, edit or split that names a `ProcedureTaskId`/`ReviewAudioVideoTaskId` also yields an event
for that task with status `waiting` (kind procedure/review), so the task is known, and can be polled, before
its own first callback. PullEvents items do not keep their `EventHandle` in the event: a redelivery may bring a new handle, and the
event must keep its content id (the pull path confirms from the captured answer). Their origin is `pull`.

| status word (task) | status | outcome |
|---|---|---|
| WAITING | waiting | – |
| PROCESSING | processing | – |
| FINISH | finished | from the sub-task verdicts: all SUCCESS → success, all FAIL → failed, mixed → partial; none → the task ErrCodeExt/ErrCode (empty/0 → success) |
| ABORTED (DescribeTaskDetail) | finished | aborted |
| none (2017-style and media events) | finished | from ErrCode (0 → success) or the per-item ErrCodes |

Sub-task `Status`: PROCESSING → processing, SUCCESS → finished/success, FAIL → finished/failed; the error
is `ErrCodeExt` when not empty, else a non-zero `ErrCode`, with `Message`. When the task's word and the
sub-tasks disagree (a FINISH with sub-tasks still running, counted as failed; a failing task ErrCode next
to all-successful sub-tasks; an ABORTED with every sub-task done), provider_status keeps the word verbatim,
the outcome follows the sub-tasks (ABORTED stays aborted) and the event carries a warning. `error` is set
only for failed, partial and aborted outcomes: the task-level code if any, else the first failing sub-task's.

| DescribeTaskDetail | normalized as |
|---|---|
| `{"Response": {…}}` or the object unwrapped; origin `poll` | the populated `<Xxx>Task` through the reader of the EventType with the same object (ProcedureTask → ProcedureStateChanged, TranscodeTask → TranscodeComplete, PullUploadTask → PullComplete, …), `event_type` is that EventType; the answer's `Status` overrides the object's (a disagreement is a warning); CreateTime → created_at, BeginProcessTime → started_at, FinishTime → finished_at only when finished; a task id missing from the answer comes from `task_id_hint`; an answer without a task object is named by its `TaskType`; an `Error` answer is unidentifiable |
| PullEvents `{"Response": {"EventSet": […]}}` | each item as a push body, origin `pull`; an unreadable item is skipped with a warning on the others |

| sub-task `Type` (MediaProcessResultSet) | output kind | fields |
|---|---|---|
| Transcode | video (audio when it has only audio streams) | Url, Container, Size, Bitrate, Width, Height, Duration, Md5, streams (fps from the first video stream) |
| AnimatedGraphics | animation | Url, Container, Size, Bitrate, Width, Height, duration = EndTimeOffset − StartTimeOffset |
| SnapshotByTimeOffset | images | urls = PicInfoSet[].Url |
| SampleSnapshot | images | urls = ImageUrlSet (or PicInfoSet, as one doc example sends) |
| ImageSprites | sprite | urls = ImageUrlSet (sheets), url = WebVttUrl, Width/Height of one cell |
| CoverBySnapshot | image | url = CoverUrl |
| AdaptiveDynamicStreaming | streaming | Url, container = Package (HLS/DASH), Size, streams from SubStreamSet |
| other | other | whatever of the above is present |

Output keys are stable per sub-result: `<Type>:<Definition>#<n>` uses the template id the sub-task was asked
for (`Input.Definition`, else `Output.Definition`: outputs say 0 for the source, and one snapshot template
reported 0 and 10 in two real events, Q15) and `n` counts earlier sub-tasks of the same type and template.
A callback and DescribeTaskDetail carry the same ProcedureTask, so a sub-result keeps its key whichever way
it arrived, and a PROCESSING report (no Output yet) is replaced by the final one. New files are `File#<n>`
(their FileIds in extra.OutputFileIds).

Units: bitrates bits/s (3.0 is bps throughout); sizes bytes; durations seconds (floats, often float32-ish);
snapshot TimeOffset milliseconds (in keys as sent); times ISO-8601 UTC, `"0000-00-00T00:00:00Z"` → null,
milliseconds accepted. FileId is kept as text (19-digit ids exceed 2^53; one doc example sends a number).
Source `MetaData`, `FileName`/`FileUrl`, the AI result sets (AiContentReviewResultSet, AiAnalysisResultSet,
AiRecognitionResultSet) and review verdicts are kept verbatim in `extra`. `session` is SessionId/
SessionContext (an upload's SourceContext, the context it was created with, for NewFileUpload).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from receiver.dialects.base import Dialect, NormalizeContext, RawCallback, SigningPolicy, Verification
from receiver.dialects.tencent_vod_v3.normalize import looks_like_vod_v3, normalize
from receiver.dialects.tencent_vod_v3.tables import DIALECT_NAME
from receiver.dialects.tencent_vod_v3.verify import sign, signature_fields, verify
from receiver.model import Event, Provider

__all__ = ["DIALECT", "TencentVodV3", "sign", "signature_fields"]


@dataclass
class TencentVodV3(Dialect):
    name: ClassVar[str] = DIALECT_NAME
    provider: ClassVar[Provider] = Provider.TENCENT_VOD
    ack_semantics: ClassVar[str] = (
        "push: ack and retries undocumented, answer 200 fast; pull: an event not confirmed within 30 s "
        "is delivered again"
    )

    def detect(self, document: Any, headers: Mapping[str, str]) -> bool:
        return looks_like_vod_v3(document)

    def verify(self, raw: RawCallback, policy: SigningPolicy, now: datetime) -> Verification:
        return verify(raw, policy, now)

    def normalize(self, document: Any, ctx: NormalizeContext) -> list[Event]:
        return normalize(document, ctx)


DIALECT = TencentVodV3()

"""Tencent Cloud MPS (媒体处理, API 2019-06-12): task callbacks and DescribeTaskDetail answers.

Reference: `shared/providers/tencent-mps.md` (+ `tencent-mps-schema.json`); seed `002` (DescribeTaskDetail).

## What arrives

* **Callbacks** (`NotifyType=URL`): the ParseNotification output without `RequestId`:
  `{"EventType": …, "<Xxx>TaskEvent": {…}, <other *TaskEvent>: null, "SessionId", "SessionContext",
  "Timestamp", "Sign"}`. Also accepted: a CMQ message wrapper `{"msgBody": "<that JSON as text>"}`, a body
  percent-encoded as a whole (one integrator saw `%7B…`), and live-stream notifications
  (`{"NotificationType": …, "TaskId": …, "<Xxx>ResultInfo": …}`).
* **DescribeTaskDetail answers** (`{"Response": {…}}` or the bare `Response` object): the callback's
  `WorkflowTaskEvent` is the query's `WorkflowTask` (likewise EditMediaTask, ScheduleTask), so both are read by
  the same code. `origin`/`api` come from the context; the shape decides which envelope is read, in this
  order: `Response` object → query answer (unless it holds an `EventType`: a ParseNotification API answer,
  read as a callback); `EventType` or a `*TaskEvent` key → callback; `NotificationType` or a top-level
  `TaskId` → live notification; `TaskType`, a query task object or `ctx.api == "DescribeTaskDetail"` → query.
  An API error answer (`Response.Error`) is `Unidentifiable`: it reports no event (the poller handles it).

## Dispatch (`EventType` → task object → kind; `event_type` keeps the provider's word)

| EventType / TaskType | object key (callback · query) | `task_kind` |
|---|---|---|
| `WorkflowTask` | `WorkflowTaskEvent` · `WorkflowTask` | workflow |
| `EditMediaTask` | `EditMediaTaskEvent` · `EditMediaTask` | edit |
| `ScheduleTask` | `ScheduleTaskEvent` · `ScheduleTask` | schedule |
| `BatchTask` | `BatchTaskEvent` (no TaskId/Status in the SDK; read if present) | batch |
| `ExtractBlindWatermark` | `ExtractBlindWatermarkTask` (both; no `Event` suffix) | watermark |
| `LiveStreamProcessTask` (query) | `LiveStreamProcessTask` | other |
| `LiveScheduleTask` (query) | `LiveScheduleTask` | schedule |
| live `NotificationType` (callback) | `ProcessEofInfo`, `LiveRecordResultInfo`, `Ai*ResultInfo` | other |
| anything else | the first object with a `TaskId` names the task; every object kept in `extra` | other |

A query answer's `event_type` is the callback's EventType for the same task type, so both read alike.

## Fields

| Event field | from |
|---|---|
| `task_id` | `TaskId` of the task object (live: top-level `TaskId`; else the context's `task_id_hint`) |
| `media_id` | the input (`InputInfo`; EditMedia: the first `FileInfoSet` item; Batch: the first `InputInfos` item): COS `cos://<Bucket>/<Object without leading />`, URL the `Url`, AWS-S3 `s3://<S3Bucket>/<S3Object>`, VOD the `FileId` (so it meets VOD's own media ids; else `vod://<Bucket>/<Object>`); live query tasks: the stream `Url` |
| `provider_status` | the task's `Status` verbatim (query: the answer's top-level `Status`, which alone has `WAITING`; live: `NotificationType`) |
| `status` | see the status table |
| `outcome`, `error` | see the outcome rules |
| `created_at` | query `CreateTime` (callbacks carry no task times) |
| `started_at` | query `BeginProcessTime`; else the earliest sub-task `BeginProcessTime` |
| `finished_at` | only when `status` is finished: query `FinishTime`, else the latest `FinishTime` of a finished sub-task; `"0000-00-00T00:00:00Z"` is null |
| `updated_at` | null: MPS sends no report time (`Timestamp` is a signature expiry, not a send time) |
| `session` | `{id: SessionId, context: SessionContext}`, null when both are empty |
| `outputs` | one per media sub-task (below) |
| `extra` | verbatim, credentials (`S3SecretId`, `S3SecretKey`, `NotifyKey`, `SecretId`, `SecretKey`) removed at any depth, empty values left out: source `MetaData`; WorkflowTask `AiContentReviewResultSet`, `AiAnalysisResultSet`, `AiRecognitionResultSet`, `AiQualityControlTaskResult`, `SmartSubtitlesTaskResult`, `SmartEraseTaskResult`, `AiDubbingTaskResult`; ScheduleTask `ActivityResultSet` (its non-media activities only); BatchTask `InputInfos`, `Metadatas`, `SmartSubtitlesTaskResult`; ExtractBlindWatermark `Type`, `IsDetected`, `Result`, `ExtractBlindWatermarkConfig`; live `RecordOver` and `Ai*ResultInfo`; LiveScheduleTask `LiveActivityResultSet`. `Timestamp`/`Sign`/`RequestId` are receipt data and never kept. |

### Status

| MPS word | `status` | note |
|---|---|---|
| task `WAITING` | waiting | DescribeTaskDetail and ExtractBlindWatermark only |
| task `PROCESSING` | processing | `NotifyMode=Change` callbacks; never terminal |
| task `FINISH` | finished | **not** success: the outcome comes from ErrCode and the sub-tasks |
| task `SUCCESS` / `FAIL` | finished | undocumented at task level (an SDK example has `FAIL`); also a task-level opinion |
| sub-task `PROCESSING` / `WAITING` | processing / waiting | output `outcome` null |
| sub-task `SUCCESS` / `FAIL` | finished | output `outcome` success / failed |
| missing or unknown word | derived from the sub-tasks (any unfinished → processing, else finished) | warning, except BatchTask, which has no Status |
| live `ProcessEof` | finished | outcome from `ProcessEofInfo.ErrCode` (0 → success) |
| live `Ai*Result`, `LiveRecordResult` | processing | |

### Outcome (only for a finished task)

* Each sub-task counts: every media result, every AI/QC/subtitle/erase/dubbing sub-task (each
  `*Task` object of the AI result sets, `AiQualityControlTaskResult`, …), each schedule activity, each batch
  subtitle output. A sub-task without a known `Status` word but with a failing `ErrCodeExt` (not `""`/`SUCCESS`)
  or a non-zero `ErrCode` counts as failed.
* All finished sub-tasks succeeded → success; all failed → failed; otherwise partial.
* No finished sub-task (EditMedia, watermark, empty result sets): the task's own word: a non-zero task
  `ErrCode` (a source failure, e.g. 70000 "source file err") → failed; task word `FAIL` → failed; else success.
* When the task's own word (`ErrCode` ≠ 0, or `SUCCESS`/`FAIL`) and the sub-tasks disagree, `provider_status`
  keeps the word, `outcome` comes from the sub-tasks, and a warning says so. Sub-tasks still unfinished in a
  finished task are left out of the outcome, with a warning.
* `error`: the task-level `{code: ErrCode, message: Message}` when `ErrCode` ≠ 0, else (failed or partial)
  the first failed sub-task's `{code: ErrCodeExt, or ErrCode when ErrCodeExt is empty, message: Message}`; null
  on success. Each output carries its own sub-task's error.
* MPS has no cancellation: `aborted` never occurs.

### Outputs

`key` = `<Type>:<Definition>` (the template id from the sub-task's `Input`, else its `Output`; `-` when there
is none). A repeated `<Type>:<Definition>` within one task gets `#1`, `#2` … in set order, so a single
occurrence never depends on its position and the same sub-result gets the same key from a callback and from
DescribeTaskDetail (both list results in the same order). `ImageSprite` and `ImageSprites` share the key
`ImageSprites:…`; schedule activities use the same keys as workflow results; EditMedia's output is `EditMedia`;
live recordings `LiveRecord:<Url>`.

| `Type` (result key) | `kind` | fields |
|---|---|---|
| `Transcode` (`TranscodeTask`) | video (audio when only audio streams) | storage, container, size_bytes, bitrate_bps, width, height, duration_s, md5, fps, streams |
| `AnimatedGraphics` (`AnimatedGraphicTask`) | animation | storage, container, width, height, bitrate_bps, size_bytes, md5, duration_s = End − StartTimeOffset |
| `SnapshotByTimeOffset` (`SnapshotByTimeOffsetTask`) | images | storage.path = first picture, storage.paths = all `PicInfoSet[].Path` |
| `SampleSnapshot` (`SampleSnapshotTask`) | images | storage.path = first image, storage.paths = `ImagePathSet` |
| `ImageSprites` (`ImageSpriteTask`) | sprite | storage.path = `WebVttPath`, storage.paths = `ImagePathSet`; width/height of one small image |
| `AdaptiveDynamicStreaming` (`AdaptiveDynamicStreamingTask`) | streaming | storage.path = manifest, container = `Package` (HLS, MPEG-DASH) |
| `CoverBySnapshot` and unknown types (first object sibling) | image / other | storage from `Path` and `Storage`/`OutputStorage` |
| `SmartErase` (`SmartEraseTaskResult`, schedule `SmartEraseTask`) | video | storage |
| EditMedia `Output` | video | storage, and container/size/bitrate/size/duration/streams from its `MetaData` |
| live `LiveRecordResultInfo.FileResults[]` | video | url (MPS gives one), size_bytes, duration_s |

Storage: `{type: cos | s3 | vod (from OutputStorage.Type COS | AWS-S3 | VOD), bucket, region (from
CosOutputStorage, S3OutputStorage.S3Bucket/S3Region or VODOutputStorage), path}`; the result's `Storage`
(`OutputStorage` for transcode/erase) first, else the sub-task input's `OutputStorage`. No URL: the reference
documents no rule for forming one from bucket, region and path (CDN domains are per account).

Units: MPS sends every bitrate in bits/s (the SDK says bps for MediaTranscodeItem, the stream items and the
metadata), sizes in bytes, durations and offsets in seconds, sampling rates in Hz; they are copied unchanged.
Video `fps` is `FpsNumerator/FpsDenominator` when both are given, else `Fps`. MPS writes 0 for "not
applicable" (an audio output's width, a GIF's bitrate) and "" for "none" (`Md5`): those become null.
`storage.paths` is set only when it says more than `storage.path` (several files, or a sprite's images beside
its WebVTT index). A failed or unfinished sub-task has no storage: only what was produced is described.

## Signature

`Sign = md5(str(Timestamp) + NotifyKey)` (lowercase hex), both top-level body fields; `Timestamp` is an expiry
(send time + 600 s by default). See `verify.py`; `sign()` is what the emulator signs with.

## Detection (`auto`)

A JSON object is MPS when its `EventType` is one of MPS's own (`WorkflowTask`, `EditMediaTask`,
`ScheduleTask`, `BatchTask`, `ExtractBlindWatermark`), or it has a `*TaskEvent` key (VOD 3.0's keys end in
`CompleteEvent`/`ChangeEvent`/…, never `TaskEvent`), or an `EventType` beside `ExtractBlindWatermarkTask`, or a
live `NotificationType` with a `TaskId`; or it is a CMQ wrapper (`msgBody`) or a ParseNotification API answer
(`{"Response": {"EventType": …}}`) around such a body. DescribeTaskDetail answers are never claimed: they reach
the dialect through the poller, which knows its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from receiver.dialects._coerce import Lenient
from receiver.dialects.base import (
    ACCEPTED_UNSIGNED,
    Dialect,
    NormalizeContext,
    RawCallback,
    SigningPolicy,
    Unidentifiable,
    Verdict,
    Verification,
    decode_json,
)
from receiver.dialects.tencent_mps.normalize import (
    DIALECT_NAME,
    EVENT_OBJECTS,
    LIVE_END_TYPE,
    LIVE_PROGRESS_TYPES,
    normalize,
    unwrap,
)
from receiver.dialects.tencent_mps.verify import sign, verify_document
from receiver.model import Event, Provider

__all__ = ["DIALECT", "TencentMpsDialect", "sign"]

_LIVE_TYPES = LIVE_PROGRESS_TYPES | {LIVE_END_TYPE}


@dataclass
class TencentMpsDialect(Dialect):
    name: ClassVar[str] = DIALECT_NAME
    provider: ClassVar[Provider] = Provider.TENCENT_MPS
    #: MPS documents no acknowledgement or retry policy for URL callbacks; the closest documented behaviour
    #: (VOD's) ignores status and body and retries twice only on a 5 s timeout. A 503 achieves nothing
    #: reliable: DescribeTaskDetail polling (7-day retention) is the safety net.
    ack_semantics: ClassVar[str] = "undocumented; VOD-derived: status and body ignored, 2 retries on timeout only"

    def detect(self, document: Any, headers: Mapping[str, str]) -> bool:
        return is_mps_callback(document)

    def verify(self, raw: RawCallback, policy: SigningPolicy, now: datetime) -> Verification:
        """`Sign`/`Timestamp` live in the body, so the body is parsed here, before anything trusts it."""
        if not policy.enabled:
            return ACCEPTED_UNSIGNED
        try:
            document = self.decode(raw.body)
        except Unidentifiable as exc:
            return Verification(Verdict.REFUSED, f"missing Sign: {exc.reason}")
        document, _ = unwrap(document, Lenient())
        return verify_document(document, policy, now)

    def decode(self, body: bytes) -> Any:
        """JSON; or, failing that, a body percent-encoded as a whole (`%7B…`), which one integrator met."""
        try:
            return decode_json(body)
        except Unidentifiable:
            if body.lstrip()[:3].upper() != b"%7B":
                raise
        return decode_json(unquote_plus(body.decode("ascii", errors="replace")).encode())

    def normalize(self, document: Any, ctx: NormalizeContext) -> list[Event]:
        return normalize(document, ctx)


def is_mps_callback(document: Any) -> bool:
    """True for the callback shapes only MPS sends (see "Detection" above)."""
    document, _ = unwrap(document, Lenient())
    if not isinstance(document, dict):
        return False
    event_type = document.get("EventType")
    if isinstance(event_type, str) and event_type.strip() in EVENT_OBJECTS:
        return True
    if event_type is not None and "ExtractBlindWatermarkTask" in document:
        return True
    if any(isinstance(key, str) and key.endswith("TaskEvent") for key in document):
        return True
    notification = document.get("NotificationType")
    return isinstance(notification, str) and notification.strip() in _LIVE_TYPES and "TaskId" in document


DIALECT = TencentMpsDialect()

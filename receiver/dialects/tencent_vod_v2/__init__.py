"""Tencent Cloud VOD, legacy v2 API (`tencent-vod-v2`): `{"version":"4.0","eventType":…,"data":…}`.

Reference: shared/providers/tencent-vod.md §2 and §5; seeds 000 (GetProcedureInfo) and 001 (GetTaskInfo).

**Delivery and our answer.** The legacy push carries no signature (the provider recommends HTTPS), ignores
our status code and body, and re-sends (twice) only when we take longer than 5 s. A 503 therefore achieves
nothing: a callback we cannot store is lost to push, and the fallback's GetTaskInfo polling is the safety net.

| eventType | task_id | task_kind | media_id | status / outcome | outputs (key) |
|---|---|---|---|---|---|
| ProcedureStateChanged | data.vodTaskId | procedure | data.fileId | PROCESSING→processing, FINISH→finished; outcome: errCode≠0 → failed, else from processTaskList (all SUCCESS → success, all FAIL → failed, mixed → partial; a disagreement with errCode 0 adds a warning) | one per processTaskList item: `<taskType>:<definition>#<n>` (n counts repeats of the same type and definition) |
| TranscodeComplete | data.vodTaskId | transcode | data.fileId | finished; data.status 0 → success, else failed | playSet: `Transcode:<definition>#<n>`; coverUrl: `Cover#0` |
| ClipComplete | data.vodTaskId | clip | data.srcFileId | finished; fileInfo.status 0 → success | `Clip#0` (new file id in extra.outputFileIds) |
| ConcatComplete | data.vodTaskId | concat | – | finished; per fileInfo[].status (0 ok; -1 and 4 fail) | `Concat:<fileType>#<n>` |
| CreateSnapshotByTimeOffsetComplete | data.vodTaskId | snapshot | data.fileId | finished; picInfo statuses decide | `SnapshotByTimeOffset:<definition>:<timeOffset>` |
| CreateImageSpriteComplete | data.vodTaskId | sprite | data.fileId | finished; data.status | `ImageSprites:<definition>#0` |
| NewFileUpload | data.vodTaskId or none (media event) | upload | data.fileId | finished; data.status | `File#0` (procedureTaskId etc. in extra) |
| PullComplete | data.vodTaskId | pull | data.fileId | finished; data.status | `File#0` |
| FileDeleted | none (media event) | delete | each fileInfo[].fileId: one event per file | finished; data.status | – |
| anything else | data.vodTaskId | other | data.fileId | none (attached, changes nothing); data kept in extra.data | – |

Sub-task status: PROCESSING → processing; SUCCESS → finished/success; FAIL → finished/failed.

| query answer | normalized as |
|---|---|
| GetTaskInfo | `type` (case-insensitive: Procedure, transcode, clipVideo, clip_media, concatFile, snapShotByTime, imageSprite) picks the eventType whose `data` it carries; the answer's `status` (WAITING/PROCESSING/FINISH) overrides; createTime → created_at, beginProcessTime → started_at, finishTime → updated_at, and finished_at only when FINISH (the doc calls it the last update; the seed's PROCESSING answer has one) |
| GetProcedureInfo | the procedure block at top level; task id from the query (`task_id_hint`); the seed's `"code": "4.0"` is accepted |
| PullEvent | each eventList[].eventContent as a callback, origin=pull |

Units: bitrates are bits/s as sent (the docs say kbps, every example and real value is bps: quirk Q3);
sizes bytes; durations seconds; times unix seconds (0 → null). Source media `metaData`, `drm` and AI/review
lists are kept verbatim in `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from receiver.dialects.base import Dialect, NormalizeContext
from receiver.dialects.tencent_vod_v2.normalize import DIALECT_NAME, normalize
from receiver.model import Event, Provider


@dataclass
class TencentVodV2(Dialect):
    name: ClassVar[str] = DIALECT_NAME
    provider: ClassVar[Provider] = Provider.TENCENT_VOD
    ack_semantics: ClassVar[str] = (
        "ignores status code and body; re-sends twice only after a 5 s timeout: a 503 achieves nothing"
    )

    def detect(self, document: Any, headers: Mapping[str, str]) -> bool:
        if not isinstance(document, dict):
            return False
        if "eventType" in document:
            return True
        events = document.get("eventList")
        return isinstance(events, list) and all(isinstance(item, dict) and "msgHandle" in item for item in events)

    def normalize(self, document: Any, ctx: NormalizeContext) -> list[Event]:
        return normalize(document, ctx)


DIALECT = TencentVodV2()

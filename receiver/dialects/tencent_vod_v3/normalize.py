"""VOD 3.0 documents → normalized events. The mapping tables are in the package docstring.

Three document shapes reach this module: a push body or PullEvents item (`EventType` + one `<Xxx>Event`
object), a PullEvents answer (`EventSet` of such items) and a DescribeTaskDetail answer (`TaskType`, status,
times + one `<Xxx>Task` object). A `<Xxx>Event` object and the `<Xxx>Task` object of the same task have the
same shape, so both go through the same reader; the answer's own status and times then take precedence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeVar

from pydantic import BaseModel

from receiver.dialects._coerce import Lenient, validate_leniently
from receiver.dialects.base import NormalizeContext, Unidentifiable
from receiver.dialects.tencent_vod_v3 import models as m
from receiver.dialects.tencent_vod_v3.outputs import (
    Result,
    ai_results,
    error_of,
    failure_code,
    file_output,
    output_of,
    subtask_outputs,
)
from receiver.dialects.tencent_vod_v3.tables import (
    DETAIL_TASK_EVENTS,
    DETAIL_TASK_TYPES,
    DIALECT_NAME,
    ENVELOPE_KEYS,
    EVENTS,
    MPS_DETAIL_KEYS,
    MPS_EVENT_TYPES,
    MPS_KEYS,
    MPS_TASK_TYPES,
    SUBTASK_TYPES,
    TASK_STATUS,
    VOD_EVENT_KEYS,
    EventSpec,
)
from receiver.model import ErrorInfo, Event, Origin, Outcome, Output, OutputKind, Provider, Session, Status, TaskKind

M = TypeVar("M", bound=BaseModel)
#: The outcomes an event carries an error for.
_ERROR_OUTCOMES = (Outcome.FAILED, Outcome.PARTIAL, Outcome.ABORTED)
#: A MediaProcessResultSet item's sub-task objects (its fields, read from the model's dict in one call).
_SUBTASK_OBJECTS = itemgetter(*(key for key, _ in SUBTASK_TYPES.values()))


class _Draft:
    """One event's fields while a task object is read; `build` stamps the receipt and computes the id."""

    __slots__ = ("fields",)

    def __init__(self, event_type: str, task_id: str | None, kind: TaskKind, media_id: str | None) -> None:
        self.fields: dict[str, Any] = {
            "event_type": event_type,
            "outputs": [],
            "extra": {},
            "task_id": task_id or None,
            "task_kind": kind,
            "media_id": media_id or None,
        }

    def build(self, ctx: NormalizeContext, warnings: list[str]) -> Event:
        """The fields already have their types (outputs built by `outputs.output_of`), so `Event.assemble` takes
        them as they are. The draft's own fields are handed over (a draft is built once)."""
        return ctx.event(self.fields, Provider.TENCENT_VOD, DIALECT_NAME, warnings)


class _Read:
    """What a reader needs besides the task object: where it is, how to degrade, and (for a query answer)
    the answer's own status word, which overrides the object's."""

    __slots__ = ("ctx", "event_type", "kind", "lenient", "path", "status_path", "status_word")

    def __init__(
        self,
        event_type: str,
        kind: TaskKind,
        ctx: NormalizeContext,
        lenient: Lenient,
        path: str,
        status_word: str | None = None,
        status_path: str = "$.Status",
    ) -> None:
        self.event_type = event_type
        self.kind = kind
        self.ctx = ctx
        self.lenient = lenient
        self.path = path
        self.status_word = status_word
        self.status_path = status_path

    def model(self, model: type[M], payload: dict[str, Any]) -> M:
        return validate_leniently(model, payload, self.lenient, self.path)

    def draft(self, task_id: str | None, media_id: str | None) -> _Draft:
        return _Draft(self.event_type, task_id, self.kind, media_id)

    def settle(
        self,
        draft: _Draft,
        word: str | None,
        *,
        code: str | None = None,
        message: str | None = None,
        results: Iterable[Result] = (),
        completion: bool = False,
    ) -> None:
        """Fill status, provider_status, outcome and error from the task's word, its task-level code and
        its sub-task verdicts. `completion` events (2017-style, uploads) are finished without a word."""
        path = ""  # the word's path, spelled out only for a warning
        if self.status_word is not None:
            own = (word or "").strip().upper()
            if own in TASK_STATUS and own != self.status_word.strip().upper():
                self.lenient.warn(
                    f"{self.path}.Status", word, f"disagrees with the answer's Status {self.status_word!r}"
                )
            word, path = self.status_word, self.status_path
        upper = word.strip().upper() if word is not None else ""
        status: Status | None = None
        if upper:
            status = TASK_STATUS.get(upper)
            if status is None:
                self.lenient.warn(path or f"{self.path}.Status", word, "unknown task status")
        elif completion:
            status = Status.FINISHED
        verdicts = list(results)
        outcome: Outcome | None = None
        if status is Status.FINISHED:
            if upper == "ABORTED":
                outcome = Outcome.ABORTED
                if verdicts and all(v[0] is Outcome.SUCCESS for v in verdicts):
                    self.lenient.warn(
                        path or f"{self.path}.Status", word, "the task was aborted although every sub-task succeeded"
                    )
            else:
                outcome = self._outcome(code, verdicts, word or "")
        error: ErrorInfo | None = None
        if outcome in _ERROR_OUTCOMES or (status is None and code):
            error = ErrorInfo(code=code, message=message or None) if code else None
            error = error or next((v[1] for v in verdicts if v[1] is not None), None)
        fields = draft.fields
        fields["status"] = status
        fields["provider_status"] = word or None
        fields["outcome"] = outcome
        fields["error"] = error

    def _outcome(self, code: str | None, verdicts: list[Result], word: str) -> Outcome:
        """Sub-task verdicts decide (all success → success, all failed → failed, else partial); without any,
        the task-level code does. A task code that says failure next to all-successful sub-tasks is kept as
        a warning: the results win."""
        if not verdicts:
            return Outcome.FAILED if code else Outcome.SUCCESS
        unfinished = sum(1 for v in verdicts if v[0] is None)
        if unfinished:
            self.lenient.warn(
                f"{self.path}.Status", word, f"the task finished but {unfinished} of its sub-tasks did not"
            )
        outcomes = [v[0] or Outcome.FAILED for v in verdicts]
        if all(o is Outcome.SUCCESS for o in outcomes):
            if code:
                self.lenient.warn(
                    f"{self.path}.ErrCode", code, f"says failure but all {len(outcomes)} sub-tasks succeeded"
                )
            return Outcome.SUCCESS
        if all(o is Outcome.FAILED for o in outcomes):
            return Outcome.FAILED
        return Outcome.PARTIAL

    def announce(self, task_id: str | None, kind: TaskKind, media_id: str | None) -> _Draft | None:
        """A task this event says was started (an upload's procedure, an edit's review): reported as waiting,
        so that task is known (and can be polled) before its own first callback."""
        if not task_id:
            return None
        draft = self.draft(task_id, media_id)
        draft.fields.update(task_kind=kind, status=Status.WAITING)
        return draft


def _session(session_id: str | None, context: str | None) -> Session | None:
    if not session_id and not context:
        return None
    return Session(id=session_id or None, context=context or None)


def _times(items: Iterable[datetime | None]) -> list[datetime]:
    return sorted(t for t in items if t is not None)


def _keep(extra: dict[str, Any], **values: Any) -> None:
    """Copy the values that say something (not None, "", [] or {}) into `extra`."""
    for name, value in values.items():
        if value is not None and (value or not isinstance(value, str | list | dict)):
            extra[name] = value


# readers: one per task-object shape -----------------------------------------------------------------------


def _procedure(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """ProcedureTask (also ReduceMediaBitrateTask): sub-task results become outputs; AI sets go to extra."""
    task = r.model(m.ProcedureTask, payload)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.FileId)
    items = task.MediaProcessResultSet or []
    outputs, verdicts = subtask_outputs(items, f"{r.path}.MediaProcessResultSet", r.lenient)
    ai_sets = {
        "AiContentReviewResultSet": task.AiContentReviewResultSet,
        "AiAnalysisResultSet": task.AiAnalysisResultSet,
        "AiRecognitionResultSet": task.AiRecognitionResultSet,
    }
    verdicts += ai_results(ai_sets, r.path, r.lenient)
    r.settle(
        draft,
        task.Status,
        code=failure_code(task.ErrCodeExt, task.ErrCode),
        message=task.Message,
        results=verdicts,
    )
    sub_tasks = [sub for item in items if item is not None for sub in _SUBTASK_OBJECTS(item.__dict__) if sub]
    begun = _times(sub.BeginProcessTime for sub in sub_tasks)
    ended = _times(sub.FinishTime for sub in sub_tasks)
    draft.fields.update(
        outputs=outputs,
        session=_session(task.SessionId, task.SessionContext),
        started_at=begun[0] if begun else None,
        finished_at=ended[-1] if ended and draft.fields["status"] is Status.FINISHED else None,
    )
    _keep(draft.fields["extra"], FileName=task.FileName, FileUrl=task.FileUrl, MetaData=task.MetaData, **ai_sets)
    return [draft]


def _basic_info(info: m.BasicInfo | None, r: _Read, path: str) -> m.BasicInfo | None:
    """MediaBasicInfo, unwrapped when the PullComplete doc example nests it inside another one."""
    if info is not None and info.MediaBasicInfo is not None and info.Name is None and info.MediaUrl is None:
        return validate_leniently(m.BasicInfo, info.MediaBasicInfo, r.lenient, f"{path}.MediaBasicInfo")
    return info


def _upload(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """NewFileUpload: a media event keyed by FileId; its ProcedureTaskId/ReviewAudioVideoTaskId announced."""
    task = r.model(m.FileUploadTask, payload)
    info = _basic_info(task.MediaBasicInfo, r, f"{r.path}.MediaBasicInfo") or m.BasicInfo()
    draft = r.draft(None, task.FileId)
    r.settle(draft, None, completion=True)
    if info.MediaUrl or task.FileId:
        draft.fields["outputs"] = [
            file_output(
                "File#0",
                url=info.MediaUrl,
                file_type=info.Type or info.Category,
                meta=task.MetaData,
                status=draft.fields["status"],
                result=(draft.fields["outcome"], None),
            )
        ]
    source = info.SourceInfo or m.MediaSourceData()
    draft.fields.update(
        created_at=info.CreateTime,
        updated_at=info.UpdateTime,
        session=_session(None, source.SourceContext),
    )
    _keep(
        draft.fields["extra"],
        Name=info.Name,
        SourceType=source.SourceType,
        StorageRegion=info.StorageRegion,
        ClassName=info.ClassName,
        CoverUrl=info.CoverUrl,
        ProcedureTaskId=task.ProcedureTaskId,
        ReviewAudioVideoTaskId=task.ReviewAudioVideoTaskId,
    )
    announced = [
        r.announce(task.ProcedureTaskId, TaskKind.PROCEDURE, task.FileId),
        r.announce(task.ReviewAudioVideoTaskId, TaskKind.REVIEW, task.FileId),
    ]
    return [draft, *(d for d in announced if d is not None)]


def _pull(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """PullComplete / PullUploadTask: the pull task, its new file as `File#0`, follow-up tasks announced."""
    task = r.model(m.PullUploadTask, payload)
    info = _basic_info(task.MediaBasicInfo, r, f"{r.path}.MediaBasicInfo") or m.BasicInfo()
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.FileId)
    code = failure_code(task.ErrCodeExt, task.ErrCode)
    r.settle(draft, task.Status, code=code, message=task.Message, completion=True)
    url = task.FileUrl or info.MediaUrl
    if url or (task.FileId and draft.fields["outcome"] is Outcome.SUCCESS):
        draft.fields["outputs"] = [
            file_output(
                "File#0",
                url=url,
                file_type=info.Type,
                meta=task.MetaData,
                status=draft.fields["status"],
                result=(draft.fields["outcome"], draft.fields["error"]),
            )
        ]
    draft.fields.update(session=_session(task.SessionId, task.SessionContext), created_at=info.CreateTime)
    _keep(
        draft.fields["extra"],
        Name=info.Name,
        ProcedureTaskId=task.ProcedureTaskId,
        ReviewAudioVideoTaskId=task.ReviewAudioVideoTaskId,
    )
    announced = [
        r.announce(task.ProcedureTaskId, TaskKind.PROCEDURE, task.FileId),
        r.announce(task.ReviewAudioVideoTaskId, TaskKind.REVIEW, task.FileId),
    ]
    return [draft, *(d for d in announced if d is not None)]


def _delete(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """FileDeleted: one media event per deleted file (FileIdSet ∪ FileDeleteResultInfo), no task."""
    task = r.model(m.FileDeleteTask, payload)
    parts: dict[str, Any] = {}
    file_ids = [file_id for file_id in task.FileIdSet or [] if file_id]
    for item in task.FileDeleteResultInfo or []:
        if item is None or not item.FileId:
            continue
        if item.FileId not in file_ids:
            file_ids.append(item.FileId)
        parts[item.FileId] = item.DeleteParts
    if not file_ids:
        r.lenient.warn(f"{r.path}.FileIdSet", payload.get("FileIdSet"), "names no file")
    drafts = []
    targets: list[str | None] = [*file_ids] or [None]
    for file_id in targets:
        draft = r.draft(None, file_id)
        r.settle(draft, None, completion=True)
        if file_id is not None:
            _keep(draft.fields["extra"], DeleteParts=parts.get(file_id))
        drafts.append(draft)
    return drafts


def _new_file(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """EditMedia, ComposeMedia, RebuildMedia, RemoveWatermark, QualityEnhance: one new file as `File#0`.

    media_id is the file the task worked on when it names one (`Input.FileId`), else the new file."""
    task = r.model(m.NewFileTask, payload)
    out = task.Output or m.TaskOutputFile()
    source = payload.get("Input", {}).get("FileId") if isinstance(payload.get("Input"), dict) else None
    source_id = r.lenient.str_(source, f"{r.path}.Input.FileId")
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, source_id or out.FileId or task.FileId)
    r.settle(draft, task.Status, code=failure_code(task.ErrCodeExt, task.ErrCode), message=task.Message)
    if out.FileUrl or out.FileId:
        draft.fields["outputs"] = [
            file_output(
                "File#0",
                url=out.FileUrl,
                file_type=out.FileType,
                meta=out.MetaData or task.MetaData,
                status=draft.fields["status"],
                result=(draft.fields["outcome"], draft.fields["error"]),
            )
        ]
    draft.fields["session"] = _session(task.SessionId, task.SessionContext)
    _keep(
        draft.fields["extra"],
        OutputFileIds=[out.FileId] if out.FileId else None,
        MediaName=out.MediaName,
        ProcedureTaskId=task.ProcedureTaskId,
        ReviewAudioVideoTaskId=task.ReviewAudioVideoTaskId,
    )
    new_id = out.FileId or None
    announced = [
        r.announce(task.ProcedureTaskId, TaskKind.PROCEDURE, new_id),
        r.announce(task.ReviewAudioVideoTaskId, TaskKind.REVIEW, new_id),
    ]
    return [draft, *(d for d in announced if d is not None)]


def _split(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """SplitMedia: one output per segment, `File#<segment index>`; each segment's procedure announced."""
    task = r.model(m.SplitMediaTask, payload)
    segments = [s for s in task.FileInfoSet or [] if s is not None]
    source = next((s.Input.FileId for s in segments if s.Input is not None and s.Input.FileId), None)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, source or task.FileId)
    r.settle(draft, task.Status, code=failure_code(task.ErrCodeExt, task.ErrCode), message=task.Message)
    outputs: list[Output] = []
    new_ids: list[str] = []
    announced: list[_Draft | None] = []
    for index, segment in enumerate(segments):
        out = segment.Output or m.TaskOutputMediaInfo()
        info = out.MediaBasicInfo or m.BasicInfo()
        if out.FileId:
            new_ids.append(out.FileId)
        if out.FileId or info.MediaUrl:
            outputs.append(
                file_output(
                    f"File#{index}",
                    url=info.MediaUrl,
                    file_type=info.Type,
                    meta=None,
                    status=draft.fields["status"],
                    result=(draft.fields["outcome"], draft.fields["error"]),
                )
            )
        announced.append(r.announce(segment.ProcedureTaskId, TaskKind.PROCEDURE, out.FileId))
        announced.append(r.announce(segment.ReviewAudioVideoTaskId, TaskKind.REVIEW, out.FileId))
    draft.fields.update(outputs=outputs, session=_session(task.SessionId, task.SessionContext))
    _keep(draft.fields["extra"], OutputFileIds=new_ids)
    return [draft, *(d for d in announced if d is not None)]


def _transcode2017(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """TranscodeComplete (2017): one output per PlayInfoSet item, `Transcode:<Definition>#<n>`, and the
    cover as `Cover#0`; the task-level ErrCode decides the outcome."""
    task = r.model(m.TranscodeTask2017, payload)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.FileId)
    r.settle(draft, None, code=failure_code(None, task.ErrCode), message=task.Message, completion=True)
    seen: dict[int | None, int] = {}
    outputs: list[Output] = []
    for play in task.PlayInfoSet or []:
        if play is None:
            continue
        position = seen.get(play.Definition, 0)
        seen[play.Definition] = position + 1
        outputs.append(
            output_of(
                {
                    "key": f"Transcode:{'' if play.Definition is None else play.Definition}#{position}",
                    "kind": OutputKind.VIDEO,
                    "definition": None if play.Definition is None else str(play.Definition),
                    "url": play.Url or None,
                    "bitrate_bps": play.Bitrate,
                    "width": play.Width,
                    "height": play.Height,
                    "duration_s": task.Duration,
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS,
                }
            )
        )
    if task.CoverUrl:
        outputs.append(
            output_of(
                {
                    "key": "Cover#0",
                    "kind": OutputKind.IMAGE,
                    "url": task.CoverUrl,
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS,
                }
            )
        )
    draft.fields["outputs"] = outputs
    _keep(draft.fields["extra"], FileName=task.FileName)
    return [draft]


def _file_2017(key: str, info: m.FileInfo2017) -> tuple[Output, Result]:
    error = error_of(None, info.ErrCode, info.Message)
    result: Result = (Outcome.FAILED if error else Outcome.SUCCESS, error)
    output = file_output(
        key, url=info.FileUrl, file_type=info.FileType, meta=None, status=Status.FINISHED, result=result
    )
    return output, result


def _clip2017(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """ClipComplete (2017): the clip's file as `Clip#0`; its FileInfo.ErrCode decides (no task status)."""
    task = r.model(m.ClipTask2017, payload)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.SrcFileId)
    info = task.FileInfo
    if info is None:
        r.settle(draft, None, completion=True)
        return [draft]
    output, result = _file_2017("Clip#0", info)
    r.settle(draft, None, code=failure_code(None, info.ErrCode), message=info.Message, completion=True)
    if info.FileUrl or info.FileId or result[1] is not None:
        draft.fields["outputs"] = [output]
    _keep(draft.fields["extra"], OutputFileIds=[info.FileId] if info.FileId else None)
    return [draft]


def _concat2017(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """ConcatComplete (2017): one output per FileInfoSet item (one per format), `Concat:<FileType>#<n>`."""
    task = r.model(m.ConcatTask2017, payload)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, None)
    seen: dict[str | None, int] = {}
    outputs: list[Output] = []
    verdicts: list[Result] = []
    for info in task.FileInfoSet or []:
        if info is None:
            continue
        position = seen.get(info.FileType, 0)
        seen[info.FileType] = position + 1
        output, result = _file_2017(f"Concat:{info.FileType or ''}#{position}", info)
        outputs.append(output)
        verdicts.append(result)
    r.settle(
        draft, None, code=failure_code(None, task.ErrCode), message=task.Message, results=verdicts, completion=True
    )
    draft.fields["outputs"] = outputs
    _keep(draft.fields["extra"], OutputFileIds=[i.FileId for i in task.FileInfoSet or [] if i is not None and i.FileId])
    return [draft]


def _snapshot2017(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """CreateSnapshotByTimeOffsetComplete (2017): one output per picture,
    `SnapshotByTimeOffset:<Definition>:<TimeOffset ms>`, each with its own ErrCode."""
    task = r.model(m.SnapshotByTimeOffsetTask2017, payload)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.FileId)
    definition = None if task.Definition is None else str(task.Definition)
    outputs: list[Output] = []
    verdicts: list[Result] = []
    for index, pic in enumerate(task.SnapshotInfoSet or []):
        if pic is None:
            continue
        error = error_of(None, pic.ErrCode, None)
        result: Result = (Outcome.FAILED if error else Outcome.SUCCESS, error)
        verdicts.append(result)
        offset = pic.TimeOffset if pic.TimeOffset is not None else f"#{index}"
        outputs.append(
            output_of(
                {
                    "key": f"SnapshotByTimeOffset:{definition or ''}:{offset}",
                    "kind": OutputKind.IMAGE,
                    "definition": definition,
                    "url": pic.Url or None,
                    "status": Status.FINISHED,
                    "outcome": result[0],
                    "error": error,
                }
            )
        )
    r.settle(
        draft, None, code=failure_code(None, task.ErrCode), message=task.Message, results=verdicts, completion=True
    )
    draft.fields["outputs"] = outputs
    return [draft]


def _sprite2017(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """CreateImageSpriteComplete (2017): the sprite sheets as `ImageSprites:<Definition>#0` (urls = sheets,
    url = the WebVTT index)."""
    task = r.model(m.CreateImageSpriteTask2017, payload)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.FileId)
    r.settle(draft, None, code=failure_code(None, task.ErrCode), message=task.Message, completion=True)
    urls = [url for url in task.ImageSpriteUrlSet or [] if url]
    definition = None if task.Definition is None else str(task.Definition)
    if urls or task.WebVttUrl:
        draft.fields["outputs"] = [
            output_of(
                {
                    "key": f"ImageSprites:{definition or ''}#0",
                    "kind": OutputKind.SPRITE,
                    "definition": definition,
                    "url": task.WebVttUrl or None,
                    "urls": urls or None,
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS,
                }
            )
        ]
    _keep(draft.fields["extra"], TotalCount=task.TotalCount)
    return [draft]


def _publish(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """WechatPublish / WechatMiniProgramPublish: ErrCode, WechatStatus or PublishResult decide; the
    published video as `Publish#0`."""
    task = r.model(m.WechatPublishTask, payload)
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.FileId)
    verdicts: list[Result] = []
    published = (task.WechatStatus or task.PublishResult or "").strip().upper()
    if published:
        failed = published in ("FAIL", "FAILED", "REJECTED")
        word = task.WechatStatus or task.PublishResult
        verdicts.append((Outcome.FAILED, ErrorInfo(code=word)) if failed else (Outcome.SUCCESS, None))
    r.settle(
        draft, task.Status, code=failure_code(task.ErrCodeExt, task.ErrCode), message=task.Message, results=verdicts
    )
    definition = None if task.Definition is None else str(task.Definition)
    if task.WechatUrl:
        draft.fields["outputs"] = [
            output_of(
                {
                    "key": "Publish#0",
                    "kind": OutputKind.OTHER,
                    "definition": definition,
                    "url": task.WechatUrl,
                    "status": draft.fields["status"],
                    "outcome": draft.fields["outcome"],
                }
            )
        ]
    _keep(
        draft.fields["extra"],
        WechatVid=task.WechatVid,
        WechatStatus=task.WechatStatus,
        PublishResult=task.PublishResult,
        SourceDefinition=task.SourceDefinition,
    )
    return [draft]


def _restore(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """RestoreMediaComplete: a media event; its `Status` is an integer code (0 = restored), not a word."""
    task = r.model(m.RestoreMediaTask, payload)
    draft = r.draft(None, task.FileId)
    word = task.Status
    is_code = word is not None and word.strip().lstrip("-").isdigit()
    r.settle(
        draft,
        None if is_code else word,
        code=failure_code(None, word) if is_code else None,
        message=task.Message,
        completion=True,
    )
    if is_code:
        draft.fields["provider_status"] = word
    _keep(
        draft.fields["extra"],
        OriginalStorageClass=task.OriginalStorageClass,
        TargetStorageClass=task.TargetStorageClass,
        RestoreTier=task.RestoreTier,
        RestoreDay=task.RestoreDay,
        Message=task.Message,
    )
    return [draft]


def _review(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """ReviewAudioVideo: the verdict (Suggestion, Label, segments) is kept verbatim in extra.ReviewResult."""
    task = r.model(m.ReviewAudioVideoTask, payload)
    source = task.Input.FileId if task.Input is not None else None
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, source or task.FileId)
    r.settle(draft, task.Status, code=failure_code(task.ErrCodeExt, task.ErrCode), message=task.Message)
    draft.fields["session"] = _session(task.SessionId, task.SessionContext)
    _keep(draft.fields["extra"], ReviewResult=task.Output)
    return [draft]


def _generic(payload: dict[str, Any], r: _Read) -> list[_Draft]:
    """Any other task object: the common fields are read (task id, status, codes, file, session), sub-task
    results become outputs when present, and the results (`Output`, `MetaData`, …) are kept verbatim."""
    task = r.model(m.GenericTask, payload)
    source = task.Input.get("FileId") if isinstance(task.Input, dict) else None
    draft = r.draft(task.TaskId or r.ctx.task_id_hint, task.FileId or r.lenient.str_(source, f"{r.path}.Input.FileId"))
    items = payload.get("MediaProcessResultSet")
    outputs: list[Output] = []
    verdicts: list[Result] = []
    if isinstance(items, list):
        procedure = r.model(m.ProcedureTask, {"MediaProcessResultSet": items})
        outputs, verdicts = subtask_outputs(
            procedure.MediaProcessResultSet or [], f"{r.path}.MediaProcessResultSet", r.lenient
        )
    r.settle(
        draft,
        task.Status,
        code=failure_code(task.ErrCodeExt, task.ErrCode),
        message=task.Message,
        results=verdicts,
    )
    draft.fields.update(outputs=outputs, session=_session(task.SessionId, task.SessionContext))
    _keep(draft.fields["extra"], Output=task.Output, MetaData=task.MetaData)
    return [draft]


ReaderFn = Callable[[dict[str, Any], _Read], list[_Draft]]

READERS: dict[str, ReaderFn] = {
    "procedure": _procedure,
    "upload": _upload,
    "pull": _pull,
    "delete": _delete,
    "new_file": _new_file,
    "split": _split,
    "transcode2017": _transcode2017,
    "clip2017": _clip2017,
    "concat2017": _concat2017,
    "snapshot2017": _snapshot2017,
    "sprite2017": _sprite2017,
    "publish": _publish,
    "restore": _restore,
    "review": _review,
    "generic": _generic,
}


# entry points ---------------------------------------------------------------------------------------------


def normalize(document: Any, ctx: NormalizeContext) -> list[Event]:
    """Normalize a push body, a PullEvents item or answer, or a DescribeTaskDetail answer."""
    if not isinstance(document, dict):
        raise Unidentifiable("a VOD 3.0 document is a JSON object", "$", type(document).__name__)
    if "EventType" in document:
        return normalize_event(document, ctx, "$")
    response = document.get("Response")
    body, path = (response, "$.Response") if isinstance(response, dict) else (document, "$")
    if "EventSet" in body or ctx.api == "PullEvents":
        return _pull_events(body, ctx, path)
    if ctx.api == "DescribeTaskDetail" or "TaskType" in body or any(key in body for key in DETAIL_TASK_EVENTS):
        return _task_detail(body, ctx, path)
    if "Error" in body:
        _raise_api_error(body, path)
    raise Unidentifiable("no EventType, EventSet or TaskType: not a VOD 3.0 document", path, sorted(body)[:12])


def normalize_event(document: dict[str, Any], ctx: NormalizeContext, path: str) -> list[Event]:
    """A push body or one PullEvents item: `EventType` picks the reader and the key its object sits under."""
    lenient = Lenient()
    # Only two envelope fields are read (Sign and T belong to verify), so no envelope model is built.
    raw_type = document.get("EventType")
    event_type = (raw_type if type(raw_type) is str else lenient.str_(raw_type, f"{path}.EventType") or "").strip()
    if not event_type:
        raise Unidentifiable("EventType is empty or not a string", f"{path}.EventType", document.get("EventType"))
    spec = EVENTS.get(event_type)
    key, payload = _event_object(document, event_type, spec, lenient, path)
    reader_name = spec.reader if spec is not None else "generic"
    r = _Read(event_type, spec.kind if spec is not None else TaskKind.OTHER, ctx, lenient, f"{path}.{key}")
    if payload is None:
        lenient.warn(f"{path}.{key}", document.get(key), f"no event object for EventType {event_type!r}")
        payload = {}
    drafts = READERS[reader_name](payload, r)
    if spec is None:
        lenient.warn(f"{path}.EventType", event_type, "unknown event type, kept as a generic event")
        drafts[0].fields["extra"] = {key: payload} if payload else {}
    # EventHandle stays out of the event: a redelivered event may carry a new one and must keep its content id.
    return [draft.build(ctx, lenient.warnings) for draft in drafts]


def _event_object(
    document: dict[str, Any], event_type: str, spec: EventSpec | None, lenient: Lenient, path: str
) -> tuple[str, dict[str, Any] | None]:
    """The object of the event and its key: the documented keys first (`<Name>Event`, drifted names,
    `<Name>` alone as some doc pages show), then the only non-null object next to EventType."""
    if spec is not None:  # the usual case: the object sits under the documented key
        value = document.get(spec.keys[0])
        if type(value) is dict:
            return spec.keys[0], value
    candidates = [*(spec.keys if spec is not None else ()), f"{event_type}Event", event_type]
    if event_type.endswith("Complete"):
        candidates.append(f"{event_type.removesuffix('Complete')}CompleteEvent")
    for key in candidates:
        value = document.get(key)
        if isinstance(value, dict):
            return key, value
        if value is not None:
            payload = lenient.dict_(value, f"{path}.{key}")  # JSON text of an object, or a warning
            if payload:
                return key, payload
    others = [k for k, v in document.items() if k not in ENVELOPE_KEYS and isinstance(v, dict)]
    if len(others) == 1:
        lenient.warn(f"{path}.{others[0]}", event_type, "the event object sits under an unexpected key")
        return others[0], document[others[0]]
    return candidates[0], None


def _raise_api_error(body: Mapping[str, Any], path: str) -> None:
    error = body.get("Error")
    code = error.get("Code") if isinstance(error, dict) else error
    message = error.get("Message") if isinstance(error, dict) else None
    raise Unidentifiable(f"the answer is an API error: {code}: {message or 'no message'}", f"{path}.Error", error)


def _pull_events(body: dict[str, Any], ctx: NormalizeContext, path: str) -> list[Event]:
    """PullEvents: each EventSet item normalized like a push body, origin `pull` (handles stay in the capture)."""
    if "Error" in body:
        _raise_api_error(body, path)
    lenient = Lenient()
    answer = validate_leniently(m.PullEventsAnswer, body, lenient, path)
    origin = ctx.origin if ctx.origin in (Origin.PULL, Origin.REPLAY) else Origin.PULL
    pulled = NormalizeContext(
        source=ctx.source, origin=origin, received_at=ctx.received_at, capture_id=ctx.capture_id, api=ctx.api
    )
    events: list[Event] = []
    skipped: list[Unidentifiable] = []
    for index, item in enumerate(answer.EventSet or []):
        item_path = f"{path}.EventSet[{index}]"
        if not isinstance(item, dict):
            skipped.append(Unidentifiable("an EventSet item is not an object", item_path, item))
            continue
        try:
            events.extend(normalize_event(item, pulled, item_path))
        except Unidentifiable as exc:
            skipped.append(exc)
    if skipped and not events:
        raise skipped[0]
    if skipped:
        notes = [f"{exc.path}: skipped: {exc.reason}" for exc in skipped]
        events = [e.model_copy(update={"warnings": [*e.warnings, *notes]}) for e in events]
    return events


def _task_detail(body: dict[str, Any], ctx: NormalizeContext, path: str) -> list[Event]:
    """DescribeTaskDetail: the populated `<Xxx>Task` object through its event's reader, then the answer's
    Status (WAITING/PROCESSING/FINISH/ABORTED) and times take precedence over the object's."""
    if "Error" in body:
        _raise_api_error(body, path)
    lenient = Lenient()
    answer = validate_leniently(m.DescribeTaskDetailAnswer, body, lenient, path)
    poll = ctx if ctx.origin is not Origin.CALLBACK else _with_origin(ctx, Origin.POLL)
    key = next((k for k in DETAIL_TASK_EVENTS if isinstance(body.get(k), dict)), None)
    if key is None:
        key = next((k for k, v in body.items() if k.endswith("Task") and isinstance(v, dict)), None)
    task_type = (answer.TaskType or "").strip()
    event_type = DETAIL_TASK_EVENTS.get(key or "") or DETAIL_TASK_TYPES.get(task_type.lower())
    if event_type is None:
        event_type = task_type or "DescribeTaskDetail"
        lenient.warn(f"{path}.TaskType", answer.TaskType, "unknown task type, kept as a generic event")
    if key is None and not (answer.Status or ctx.task_id_hint):
        raise Unidentifiable("a DescribeTaskDetail answer with no task object and no status", path, sorted(body)[:12])
    spec = EVENTS.get(event_type)
    payload: dict[str, Any] = body[key] if key is not None else {}
    r = _Read(
        event_type,
        spec.kind if spec is not None else TaskKind.OTHER,
        poll,
        lenient,
        f"{path}.{key}" if key else path,
        status_word=answer.Status,
        status_path=f"{path}.Status",
    )
    drafts = READERS[spec.reader if spec is not None else "generic"](payload, r)
    main = drafts[0].fields
    if not main.get("task_id") and main.get("task_kind") not in (TaskKind.UPLOAD, TaskKind.DELETE, TaskKind.RESTORE):
        main["task_id"] = ctx.task_id_hint
    if spec is None and key is not None:
        _keep(main["extra"], **{key: payload})
    main.update(
        created_at=answer.CreateTime or main.get("created_at"),
        started_at=answer.BeginProcessTime or main.get("started_at"),
        finished_at=(answer.FinishTime or main.get("finished_at")) if main.get("status") is Status.FINISHED else None,
    )
    return [draft.build(poll, lenient.warnings) for draft in drafts]


def _with_origin(ctx: NormalizeContext, origin: Origin) -> NormalizeContext:
    return NormalizeContext(
        source=ctx.source,
        origin=origin,
        received_at=ctx.received_at,
        capture_id=ctx.capture_id,
        task_id_hint=ctx.task_id_hint,
        api=ctx.api,
    )


# detection ------------------------------------------------------------------------------------------------


def looks_like_vod_v3(document: Any) -> bool:
    """True for a VOD 3.0 push body or PullEvents item, a PullEvents answer or a DescribeTaskDetail answer.

    MPS bodies also carry `EventType` (WorkflowTask, EditMediaTask, …) with `WorkflowTaskEvent`-style keys,
    and Alibaba bodies share EventType names (TranscodeComplete) but never a `<Xxx>Event` key."""
    if not isinstance(document, dict):
        return False
    if "EventType" in document:
        return _is_vod_event(document)
    response = document.get("Response")
    body = response if isinstance(response, dict) else document
    events = body.get("EventSet")
    if isinstance(events, list):
        return bool(events) and all(isinstance(e, dict) and _is_vod_event(e) for e in events)
    task_type = body.get("TaskType")
    if isinstance(task_type, str) and task_type not in MPS_TASK_TYPES and not MPS_DETAIL_KEYS & body.keys():
        shared = ("EditMediaTask", "ExtractBlindWatermarkTask")  # MPS answers have these keys too
        return any(key in body for key in DETAIL_TASK_EVENTS if key not in shared)
    return False


def _is_vod_event(document: Mapping[str, Any]) -> bool:
    event_type = document.get("EventType")
    if not isinstance(event_type, str) or event_type in MPS_EVENT_TYPES or MPS_KEYS & document.keys():
        return False
    if any(isinstance(key, str) and key.endswith("TaskEvent") for key in document):  # MPS's shape
        return False
    if VOD_EVENT_KEYS & document.keys() or "EventHandle" in document:
        return True
    return any(
        key != "EventType" and key.endswith("Event") and (value is None or isinstance(value, dict))
        for key, value in document.items()
    )

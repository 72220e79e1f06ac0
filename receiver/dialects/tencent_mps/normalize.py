"""Normalization of MPS callbacks and DescribeTaskDetail answers into `Event`s.

A callback's `WorkflowTaskEvent` is the query's `WorkflowTask` (likewise EditMediaTask and ScheduleTask), so
both go through the same task readers below; only the envelope differs. The mapping tables are in the
package docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from receiver.dialects._coerce import Lenient, validate_leniently
from receiver.dialects.base import NormalizeContext, Unidentifiable
from receiver.dialects.tencent_mps import models as w
from receiver.model import (
    ErrorInfo,
    Event,
    Outcome,
    Output,
    OutputKind,
    Provider,
    Session,
    Status,
    Storage,
    Stream,
    TaskKind,
    assemble_output,
    assemble_stream,
)

DIALECT_NAME = "tencent-mps"

#: Callback `EventType` → the key holding its task object, and the task kind.
EVENT_OBJECTS: dict[str, tuple[str, TaskKind]] = {
    "WorkflowTask": ("WorkflowTaskEvent", TaskKind.WORKFLOW),
    "EditMediaTask": ("EditMediaTaskEvent", TaskKind.EDIT),
    "ScheduleTask": ("ScheduleTaskEvent", TaskKind.SCHEDULE),
    "BatchTask": ("BatchTaskEvent", TaskKind.BATCH),
    "ExtractBlindWatermark": ("ExtractBlindWatermarkTask", TaskKind.WATERMARK),
}

#: DescribeTaskDetail `TaskType` → (event type, key of the task object, task kind).
QUERY_OBJECTS: dict[str, tuple[str, str, TaskKind]] = {
    "WorkflowTask": ("WorkflowTask", "WorkflowTask", TaskKind.WORKFLOW),
    "EditMediaTask": ("EditMediaTask", "EditMediaTask", TaskKind.EDIT),
    "ScheduleTask": ("ScheduleTask", "ScheduleTask", TaskKind.SCHEDULE),
    "ExtractBlindWatermark": ("ExtractBlindWatermark", "ExtractBlindWatermarkTask", TaskKind.WATERMARK),
    "ExtractBlindWatermarkTask": ("ExtractBlindWatermark", "ExtractBlindWatermarkTask", TaskKind.WATERMARK),
    "LiveStreamProcessTask": ("LiveStreamProcessTask", "LiveStreamProcessTask", TaskKind.OTHER),
    "LiveScheduleTask": ("LiveScheduleTask", "LiveScheduleTask", TaskKind.SCHEDULE),
}

#: Live-stream `NotificationType` values that report a running stream task; `ProcessEof` ends it.
LIVE_PROGRESS_TYPES = frozenset(
    {
        "AiReviewResult",
        "AiRecognitionResult",
        "LiveRecordResult",
        "AiQualityControlResult",
        "AiAnalysisResult",
        "AiSmartSubtitleResult",
    }
)
LIVE_END_TYPE = "ProcessEof"

#: Task-level `Status` words. `SUCCESS`/`FAIL` are not documented at task level but appear in an SDK example.
TASK_STATUS: dict[str, Status] = {
    "WAITING": Status.WAITING,
    "PROCESSING": Status.PROCESSING,
    "FINISH": Status.FINISHED,
    "FINISHED": Status.FINISHED,
    "SUCCESS": Status.FINISHED,
    "FAIL": Status.FINISHED,
    "FAILED": Status.FINISHED,
}
TASK_WORD_OUTCOME: dict[str, Outcome] = {"SUCCESS": Outcome.SUCCESS, "FAIL": Outcome.FAILED, "FAILED": Outcome.FAILED}

#: Sub-task `Status` words → (status, outcome).
SUB_STATUS: dict[str, tuple[Status, Outcome | None]] = {
    "WAITING": (Status.WAITING, None),
    "PROCESSING": (Status.PROCESSING, None),
    "SUCCESS": (Status.FINISHED, Outcome.SUCCESS),
    "FAIL": (Status.FINISHED, Outcome.FAILED),
    "FAILED": (Status.FINISHED, Outcome.FAILED),
}

#: Media-process `Type` (also schedule `ActivityType`) → (canonical name, result key, output kind).
MEDIA_TYPES: dict[str, tuple[str, str, OutputKind]] = {
    "Transcode": ("Transcode", "TranscodeTask", OutputKind.VIDEO),
    "AnimatedGraphics": ("AnimatedGraphics", "AnimatedGraphicTask", OutputKind.ANIMATION),
    "SnapshotByTimeOffset": ("SnapshotByTimeOffset", "SnapshotByTimeOffsetTask", OutputKind.IMAGES),
    "SampleSnapshot": ("SampleSnapshot", "SampleSnapshotTask", OutputKind.IMAGES),
    "ImageSprites": ("ImageSprites", "ImageSpriteTask", OutputKind.SPRITE),
    "ImageSprite": ("ImageSprites", "ImageSpriteTask", OutputKind.SPRITE),
    "AdaptiveDynamicStreaming": ("AdaptiveDynamicStreaming", "AdaptiveDynamicStreamingTask", OutputKind.STREAMING),
    "CoverBySnapshot": ("CoverBySnapshot", "CoverBySnapshotTask", OutputKind.IMAGE),
    "SmartErase": ("SmartErase", "SmartEraseTask", OutputKind.VIDEO),
}
_MEDIA_KEYS = {key: canonical for canonical, key, _ in MEDIA_TYPES.values()}

#: Schedule `ActivityType` of the non-media activities → the `ActivityResItem` key holding their result.
SCHEDULE_OTHER_ACTIVITIES: dict[str, str] = {
    "AiContentReview": "ReviewTask",
    "AIRecognition": "RecognitionTask",
    "AIAnalysis": "AnalysisTask",
    "AiQualityControl": "QualityControlTask",
    "SmartSubtitles": "SmartSubtitlesTask",
    "Dubbing": "AIDubbingTask",
    "ExecRule": "ExecRuleTask",
}

#: WorkflowTask result sets kept verbatim in `Event.extra` (their sub-tasks still count towards `outcome`).
WORKFLOW_EXTRA_SETS = (
    "AiContentReviewResultSet",
    "AiAnalysisResultSet",
    "AiRecognitionResultSet",
    "AiQualityControlTaskResult",
    "SmartSubtitlesTaskResult",
    "SmartEraseTaskResult",
    "AiDubbingTaskResult",
)

STORAGE_TYPES = {"COS": "cos", "AWS-S3": "s3", "VOD": "vod"}

#: Credentials MPS may echo (AWS keys in storage objects, the notify key); never copied into an event.
SECRET_KEYS = frozenset({"S3SecretId", "S3SecretKey", "NotifyKey", "SecretId", "SecretKey"})

_ENVELOPE_KEYS = frozenset({"EventType", "SessionId", "SessionContext", "Timestamp", "Sign", "RequestId"})

_QUERY_ENVELOPE_KEYS = frozenset(
    {
        "TaskType",
        "Status",
        "CreateTime",
        "BeginProcessTime",
        "FinishTime",
        "TaskNotifyConfig",
        "TasksPriority",
        "ExtInfo",
    }
)

_SUCCESS_CODES = frozenset({"", "SUCCESS", "0"})

#: An output's fields, collected as a plain dict until the task's state is settled (a task-level output takes
#: it), then built without validation (`receiver.model.assemble_output`): the values come from the validated
#: wire models, already of the fields' types (streams and storages as models); validating them again cost
#: about 3% of a callback's normalization.
Fields = dict[str, Any]
_output = assemble_output
_stream = assemble_stream
#: A storage is validated (model.py has no assembler for it); its five strings cost little.
_validate_storage: Callable[[dict[str, Any]], Storage] = Storage.__pydantic_validator__.validate_python


@dataclass(slots=True)
class SubTask:
    """One sub-task's state, whether or not it produced an output."""

    label: str
    status: Status | None
    outcome: Outcome | None
    error: ErrorInfo | None


@dataclass(slots=True)
class Report:
    """What the readers found in one document, before it becomes an `Event`."""

    lenient: Lenient
    event_type: str
    task_kind: TaskKind | None
    task_id: str | None = None
    media_id: str | None = None
    word: str | None = None
    word_path: str = "$"
    err_code: int | None = None
    message: str | None = None
    derive_status: bool = False  # the task object has no Status of its own (BatchTask)
    subs: list[SubTask] = field(default_factory=list)
    outputs: list[Fields] = field(default_factory=list)
    task_level_outputs: set[str] = field(default_factory=set)  # keys whose state is the task's own
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    begins: list[datetime] = field(default_factory=list)
    ends: list[datetime] = field(default_factory=list)
    session: Session | None = None
    fixed_state: tuple[Status | None, Outcome | None, ErrorInfo | None] | None = None
    keys: dict[str, int] = field(default_factory=dict)

    def key(self, base: str) -> str:
        """`base` the first time, then `base#1`, `base#2`: repeated (type, definition) pairs in set order."""
        seen = self.keys.get(base, 0)
        self.keys[base] = seen + 1
        return base if seen == 0 else f"{base}#{seen}"

    def keep(self, name: str, value: Any, *, scrub: bool = True) -> None:
        """Keep a provider value verbatim in `extra` unless it is empty; `scrub` removes credentials (a copy
        is made only of a value that holds some), and is skipped for structures that hold none (media
        metadata, scalars)."""
        if value is None or (not value and isinstance(value, str | list | dict)):
            return
        self.extra[name] = _without_secrets(value) if scrub and _has_secrets(value) else value


# entry point ---------------------------------------------------------------------------------------------


def normalize(document: Any, ctx: NormalizeContext) -> list[Event]:
    """One document (callback body or DescribeTaskDetail answer) → one event, or `Unidentifiable`."""
    lenient = Lenient()
    document, path = unwrap(document, lenient)
    if not isinstance(document, dict):
        raise Unidentifiable("an MPS document is a JSON object", path, _shape(document))
    response = document.get("Response")
    if isinstance(response, dict):
        report = _query(response, f"{path}.Response", ctx, lenient)
    elif "EventType" in document or any(_is_event_key(key) for key in document):
        report = _callback(document, path, lenient)
    elif ("NotificationType" in document or "TaskId" in document) and "TaskType" not in document:
        report = _live_notification(document, path, lenient)
    elif "TaskType" in document or ctx.api == "DescribeTaskDetail" or _query_object_key(document) is not None:
        report = _query(document, path, ctx, lenient)
    else:
        report = _callback(document, path, lenient)  # names what is missing in its Unidentifiable
    if report.task_id is None and ctx.task_id_hint:
        report.task_id = ctx.task_id_hint
    return [_event(report, ctx)]


def unwrap(document: Any, lenient: Lenient) -> tuple[Any, str]:
    """The callback inside a CMQ message (`{"msgBody": "<JSON text>"}`) or a ParseNotification API answer
    (`{"Response": {"EventType": …}}`), with its path; any other document unchanged."""
    path = "$"
    if isinstance(document, dict) and isinstance(document.get("msgBody"), str) and "EventType" not in document:
        document, path = lenient.json_(document["msgBody"], "$.msgBody"), "$.msgBody"
    response = document.get("Response") if isinstance(document, dict) else None
    if isinstance(response, dict) and "EventType" in response:
        document, path = response, f"{path}.Response"
    return document, path


# envelopes -----------------------------------------------------------------------------------------------


def _callback(document: dict[str, Any], path: str, lenient: Lenient) -> Report:
    body = validate_leniently(w.ParseNotification, document, lenient, path)
    event_type = (body.EventType or "").strip() or _event_type_from_keys(document)
    if event_type is None:
        raise Unidentifiable("neither EventType nor any task object", path, _shape(document))
    known = EVENT_OBJECTS.get(event_type)
    report = Report(lenient, event_type, known[1] if known else TaskKind.OTHER)
    report.session = _session(body.SessionId, body.SessionContext)
    if known is None:
        _generic(document, path, report)
        return report
    key = known[0]
    task_path = f"{path}.{key}"
    raw = document.get(key)
    raw = raw if isinstance(raw, dict) else {}
    if event_type == "WorkflowTask" and body.WorkflowTaskEvent is not None:
        _workflow(body.WorkflowTaskEvent, raw, task_path, report)
    elif event_type == "EditMediaTask" and body.EditMediaTaskEvent is not None:
        _edit(body.EditMediaTaskEvent, task_path, report)
    elif event_type == "ScheduleTask" and body.ScheduleTaskEvent is not None:
        _schedule(body.ScheduleTaskEvent, raw, task_path, report)
    elif event_type == "BatchTask" and body.BatchTaskEvent is not None:
        _batch(body.BatchTaskEvent, raw, task_path, report)
    elif event_type == "ExtractBlindWatermark" and body.ExtractBlindWatermarkTask is not None:
        _watermark(body.ExtractBlindWatermarkTask, raw, task_path, report)
    else:
        lenient.warn(task_path, document.get(key), f"no {event_type} object: the event names no task")
    return report


def _query(document: dict[str, Any], path: str, ctx: NormalizeContext, lenient: Lenient) -> Report:
    answer = validate_leniently(w.DescribeTaskDetail, document, lenient, path)
    if answer.Error is not None:
        raise Unidentifiable(
            f"DescribeTaskDetail answered an error: {answer.Error.Code}: {answer.Error.Message}",
            f"{path}.Error",
            answer.Error.Code,
        )
    task_type = (answer.TaskType or "").strip()
    known = QUERY_OBJECTS.get(task_type)
    if known is None:
        object_key = _query_object_key(document)
        if object_key is not None:
            known = next(v for v in QUERY_OBJECTS.values() if v[1] == object_key)
    if known is None and not task_type and not ctx.task_id_hint:
        raise Unidentifiable("DescribeTaskDetail answer names no task type and no task", path, _shape(document))
    event_type, key, kind = known if known else (task_type or "DescribeTaskDetail", "", TaskKind.OTHER)
    report = Report(lenient, event_type, kind)
    report.session = _session(answer.SessionId, answer.SessionContext)
    report.created_at = answer.CreateTime
    report.started_at = answer.BeginProcessTime
    report.finished_at = answer.FinishTime
    task_path = f"{path}.{key}"
    raw = document.get(key) if key else None
    raw = raw if isinstance(raw, dict) else {}
    task: w.TaskEnvelope | None = None
    if key == "WorkflowTask" and answer.WorkflowTask is not None:
        task = answer.WorkflowTask
        _workflow(answer.WorkflowTask, raw, task_path, report)
    elif key == "EditMediaTask" and answer.EditMediaTask is not None:
        task = answer.EditMediaTask
        _edit(answer.EditMediaTask, task_path, report)
    elif key == "ScheduleTask" and answer.ScheduleTask is not None:
        task = answer.ScheduleTask
        _schedule(answer.ScheduleTask, raw, task_path, report)
    elif key == "ExtractBlindWatermarkTask" and answer.ExtractBlindWatermarkTask is not None:
        task = answer.ExtractBlindWatermarkTask
        _watermark(answer.ExtractBlindWatermarkTask, raw, task_path, report)
    elif key == "LiveStreamProcessTask" and answer.LiveStreamProcessTask is not None:
        task = answer.LiveStreamProcessTask
        _envelope(task, task_path, report)
        report.media_id = answer.LiveStreamProcessTask.Url
    elif key == "LiveScheduleTask" and answer.LiveScheduleTask is not None:
        task = answer.LiveScheduleTask
        _envelope(task, task_path, report)
        report.media_id = answer.LiveScheduleTask.Url
        report.keep("LiveActivityResultSet", answer.LiveScheduleTask.LiveActivityResultSet)
    elif key:
        lenient.warn(task_path, document.get(key), f"no {key} object in the answer")
    else:
        _generic(document, path, report, _QUERY_ENVELOPE_KEYS)
    # The answer's own Status is the task's (it alone has WAITING); the inner object's must agree.
    if answer.Status is not None:
        inner = task.Status if task is not None else None
        if inner is not None and inner.strip().upper() != answer.Status.strip().upper():
            lenient.warn(f"{task_path}.Status", inner, f"differs from the answer's Status {answer.Status!r}")
        report.word, report.word_path = answer.Status, f"{path}.Status"
    return report


def _live_notification(document: dict[str, Any], path: str, lenient: Lenient) -> Report:
    body = validate_leniently(w.ParseLiveStreamProcessNotification, document, lenient, path)
    kind = (body.NotificationType or "").strip()
    report = Report(lenient, kind or "LiveStreamProcessNotification", TaskKind.OTHER)
    report.task_id = body.TaskId
    report.word, report.word_path = body.NotificationType, f"{path}.NotificationType"
    report.session = _session(body.SessionId, body.SessionContext)
    if kind == LIVE_END_TYPE:
        info = body.ProcessEofInfo
        code = info.ErrCode if info is not None else None
        error = ErrorInfo(code=str(code), message=info.Message) if info is not None and code else None
        report.fixed_state = (Status.FINISHED, Outcome.FAILED if error else Outcome.SUCCESS, error)
    elif kind in LIVE_PROGRESS_TYPES:
        report.fixed_state = (Status.PROCESSING, None, None)
    else:
        lenient.warn(f"{path}.NotificationType", body.NotificationType, "unknown notification type")
        report.fixed_state = (None, None, None)
    record = body.LiveRecordResultInfo
    if record is not None:
        report.keep("RecordOver", record.RecordOver, scrub=False)
        for index, item in enumerate(record.FileResults or []):
            if item is None:
                continue
            report.outputs.append(
                {
                    "key": report.key(f"LiveRecord:{item.Url or index}"),
                    "kind": OutputKind.VIDEO,
                    "url": item.Url,
                    "size_bytes": item.Size,
                    "duration_s": item.Duration,
                }
            )
    for name in (
        "AiReviewResultInfo",
        "AiRecognitionResultInfo",
        "AiAnalysisResultInfo",
        "AiQualityControlResultInfo",
        "AiSmartSubtitleResultInfo",
    ):
        report.keep(name, getattr(body, name))
    return report


def _generic(document: dict[str, Any], path: str, report: Report, skip: frozenset[str] = frozenset()) -> None:
    """An event type this dialect does not know: the first object carrying a TaskId names the task."""
    for key, value in document.items():
        if key in _ENVELOPE_KEYS or key in skip or value in (None, "", [], {}):
            continue
        report.keep(key, value)
        if report.task_id is None and isinstance(value, dict) and "TaskId" in value:
            task = validate_leniently(w.TaskEnvelope, value, report.lenient, f"{path}.{key}")
            _envelope(task, f"{path}.{key}", report)


# tasks ---------------------------------------------------------------------------------------------------


def _envelope(task: w.TaskEnvelope, path: str, report: Report) -> None:
    report.task_id = task.TaskId
    report.word, report.word_path = task.Status, f"{path}.Status"
    report.err_code = task.ErrCode
    report.message = task.Message


def _workflow(task: w.WorkflowTask, raw: dict[str, Any], path: str, report: Report) -> None:
    _envelope(task, path, report)
    report.media_id = media_id(task.InputInfo)
    report.keep("MetaData", raw.get("MetaData"), scrub=False)
    for index, item in enumerate(task.MediaProcessResultSet or []):
        if item is not None:
            _media_item(item, f"{path}.MediaProcessResultSet[{index}]", report)
    if task.SmartEraseTaskResult is not None:
        _media_result("SmartErase", task.SmartEraseTaskResult, f"{path}.SmartEraseTaskResult", report)
    for name in WORKFLOW_EXTRA_SETS:
        value = raw.get(name)
        if value is None:
            continue
        report.keep(name, value)
        if name != "SmartEraseTaskResult":
            _ai_subtasks(value, f"{path}.{name}", name, report)


def _edit(task: w.EditMediaTask, path: str, report: Report) -> None:
    _envelope(task, path, report)
    files = (task.Input.FileInfoSet if task.Input is not None else None) or []
    first = next((item for item in files if item is not None), None)
    report.media_id = media_id(first.InputInfo) if first is not None else None
    output = task.Output
    if output is None:
        return
    fields: Fields = {
        "key": report.key("EditMedia"),
        "kind": OutputKind.VIDEO,
        "storage": storage(output.OutputStorage, output.Path),
    }
    if output.MetaData is not None:
        _metadata_fields(output.MetaData, fields)
    report.outputs.append(fields)
    report.task_level_outputs.add("EditMedia")


def _schedule(task: w.ScheduleTask, raw: dict[str, Any], path: str, report: Report) -> None:
    _envelope(task, path, report)
    report.media_id = media_id(task.InputInfo)
    report.keep("MetaData", raw.get("MetaData"), scrub=False)
    raw_items = raw.get("ActivityResultSet")
    raw_items = raw_items if isinstance(raw_items, list) else []
    kept: list[Any] = []
    for index, activity in enumerate(task.ActivityResultSet or []):
        if activity is None:
            continue
        item_path = f"{path}.ActivityResultSet[{index}]"
        result = activity.ActivityResItem
        if result is None:
            continue
        activity_type = (activity.ActivityType or "").strip()
        media = MEDIA_TYPES.get(activity_type)
        attribute = media[1] if media else _populated(result, _MEDIA_KEYS)
        if attribute is not None and attribute in _MEDIA_KEYS and getattr(result, attribute, None) is not None:
            canonical = _MEDIA_KEYS[attribute]
            _media_result(canonical, getattr(result, attribute), f"{item_path}.ActivityResItem.{attribute}", report)
            continue
        other = SCHEDULE_OTHER_ACTIVITIES.get(activity_type) or _populated(
            result, set(SCHEDULE_OTHER_ACTIVITIES.values())
        )
        value = getattr(result, other, None) if other else None
        if isinstance(value, dict):
            _subtask(value, f"{item_path}.ActivityResItem.{other}", activity_type or other or "?", report)
        if index < len(raw_items):
            kept.append(raw_items[index])
    report.keep("ActivityResultSet", kept)


def _batch(task: w.BatchSubTaskResult, raw: dict[str, Any], path: str, report: Report) -> None:
    report.task_id = task.TaskId
    report.word, report.word_path = task.Status, f"{path}.Status"
    report.derive_status = task.Status is None
    inputs = [item for item in task.InputInfos or [] if item is not None]
    report.media_id = media_id(inputs[0]) if inputs else None
    for name in ("InputInfos", "Metadatas", "SmartSubtitlesTaskResult"):
        report.keep(name, raw.get(name), scrub=name != "Metadatas")
    subtitles = task.SmartSubtitlesTaskResult
    for index, item in enumerate((subtitles.Outputs if subtitles is not None else None) or []):
        if item is not None:
            _count(item, f"{path}.SmartSubtitlesTaskResult.Outputs[{index}]", f"SmartSubtitles[{index}]", report)


def _watermark(task: w.ExtractBlindWatermarkTask, raw: dict[str, Any], path: str, report: Report) -> None:
    _envelope(task, path, report)
    report.media_id = media_id(task.InputInfo)
    for name in ("Type", "IsDetected", "Result", "ExtractBlindWatermarkConfig"):
        report.keep(name, raw.get(name))


# sub-tasks and outputs -----------------------------------------------------------------------------------


def _media_item(item: w.MediaProcessTaskResult, path: str, report: Report) -> None:
    """One `MediaProcessResultSet` item: `Type` says which sibling holds the result."""
    type_name = (item.Type or "").strip()
    media = MEDIA_TYPES.get(type_name)
    if media is not None and getattr(item, media[1], None) is not None:
        _media_result(media[0], getattr(item, media[1]), f"{path}.{media[1]}", report)
        return
    attribute = _populated(item, _MEDIA_KEYS)
    if attribute is not None:
        if media is not None:
            report.lenient.warn(f"{path}.Type", item.Type, f"names a result that is absent; {attribute} used")
        _media_result(_MEDIA_KEYS[attribute], getattr(item, attribute), f"{path}.{attribute}", report)
        return
    # A type without a model (CoverBySnapshot) or a new one: the first object sibling holding a result.
    for key, value in (item.model_extra or {}).items():
        if isinstance(value, dict):
            result = validate_leniently(w.GenericMediaResult, value, report.lenient, f"{path}.{key}")
            _media_result(media[0] if media else type_name or key, result, f"{path}.{key}", report)
            return
    if type_name and type_name != "CoverBySnapshot":  # documented without a result key of its own
        report.lenient.warn(path, type_name, "media result without a result object")


def _media_result(type_name: str, result: w.SubTaskResult, path: str, report: Report) -> None:
    """A media sub-task → one output, keyed `<Type>:<Definition>` (see the package docstring)."""
    task_input = getattr(result, "Input", None)
    out = getattr(result, "Output", None)
    definition: int | None = None
    fallback: w.TaskOutputStorage | None = None
    if isinstance(task_input, w.TaskInput):
        definition, fallback = task_input.Definition, task_input.OutputStorage
    if definition is None:
        definition = getattr(out, "Definition", None)
    sub = _count(result, path, type_name, report)
    media = MEDIA_TYPES.get(type_name)
    fields: Fields = {
        "key": report.key(f"{type_name}:{'-' if definition is None else definition}"),
        "kind": OutputKind.OTHER if media is None else media[2],
        "definition": None if definition is None else str(definition),
        "status": sub.status,
        "outcome": sub.outcome,
        "error": sub.error,
    }
    if isinstance(out, w.MediaTranscodeItem):
        _transcode_fields(out, fallback, fields)
    elif isinstance(out, w.MediaAnimatedGraphicsItem):
        start, end = out.StartTimeOffset, out.EndTimeOffset
        fields["storage"] = storage(out.Storage or fallback, out.Path)
        fields["container"] = out.Container or None
        fields["width"] = out.Width or None
        fields["height"] = out.Height or None
        fields["bitrate_bps"] = out.Bitrate or None
        fields["size_bytes"] = out.Size
        fields["md5"] = out.Md5 or None
        fields["duration_s"] = end - start if start is not None and end is not None and end >= start else None
    elif isinstance(out, w.MediaSnapshotByTimeOffsetItem):
        paths = [pic.Path for pic in out.PicInfoSet or () if pic is not None and pic.Path]
        fields["storage"] = storage(out.Storage or fallback, paths[0] if paths else None, paths)
    elif isinstance(out, w.MediaSampleSnapshotItem):
        paths = [image for image in out.ImagePathSet or () if image]
        fields["storage"] = storage(out.Storage or fallback, paths[0] if paths else None, paths)
    elif isinstance(out, w.MediaImageSpriteItem):
        paths = [image for image in out.ImagePathSet or () if image]
        fields["storage"] = storage(out.Storage or fallback, out.WebVttPath or (paths[0] if paths else None), paths)
        fields["width"] = out.Width or None
        fields["height"] = out.Height or None
    elif isinstance(out, w.AdaptiveDynamicStreamingInfoItem):
        fields["storage"] = storage(out.Storage or fallback, out.Path)
        fields["container"] = out.Package or None
    elif isinstance(out, w.SmartEraseOutput):
        fields["storage"] = storage(out.OutputStorage or fallback, out.Path)
    elif isinstance(out, w.GenericMediaOutput):
        fields["storage"] = storage(out.Storage or out.OutputStorage or fallback, out.Path)
    report.outputs.append(fields)


def _transcode_fields(out: w.MediaTranscodeItem, fallback: w.TaskOutputStorage | None, fields: Fields) -> None:
    """A transcode's file into `fields`; one with audio streams only is an audio output."""
    video, audio = _file_fields(out, fields)
    if audio and not video:
        fields["kind"] = OutputKind.AUDIO
    fields["storage"] = storage(out.OutputStorage or fallback, out.Path)
    fields["md5"] = out.Md5 or None


def _metadata_fields(meta: w.MediaMetaData, fields: Fields) -> None:
    """An edited file's metadata into `fields`."""
    _file_fields(meta, fields)


def _file_fields(
    item: w.MediaTranscodeItem | w.MediaMetaData, fields: Fields
) -> tuple[list[w.MediaVideoStreamItem], list[w.MediaAudioStreamItem]]:
    """What a transcode's file and an edited file's metadata both tell (container, size, bitrate, picture,
    duration, streams) into `fields`; their video and audio streams."""
    video = [stream for stream in item.VideoStreamSet or () if stream is not None]
    audio = [stream for stream in item.AudioStreamSet or () if stream is not None]
    fields["container"] = item.Container or None
    fields["size_bytes"] = item.Size
    fields["bitrate_bps"] = item.Bitrate or None
    fields["width"] = item.Width or None
    fields["height"] = item.Height or None
    fields["duration_s"] = item.Duration
    fields["fps"] = _fps(video[0]) if video else None
    fields["streams"] = streams(video, audio) if video or audio else None
    return video, audio


def _ai_subtasks(value: Any, path: str, name: str, report: Report) -> None:
    """Count the sub-tasks of an AI/QC/subtitle result set towards the outcome (their data stays in extra)."""
    if isinstance(value, dict):
        _subtask(value, path, name, report)
        return
    if not isinstance(value, list):
        return
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        for key, inner in item.items():
            if key.endswith("Task") and isinstance(inner, dict):
                label = f"{item.get('Type') or name}[{index}]"
                _subtask(inner, f"{path}[{index}].{key}", label, report)


def _subtask(value: dict[str, Any], path: str, label: str, report: Report) -> None:
    if not any(key in value for key in ("Status", "ErrCode", "ErrCodeExt")):
        return  # an empty or data-only object: nothing to count
    envelope = validate_leniently(w.SubTaskResult, value, report.lenient, path)
    _count(envelope, path, label, report)


def _count(result: w.SubTaskResult, path: str, label: str, report: Report) -> SubTask:
    """Read a sub-task's status, outcome and error, and record it towards the task's outcome."""
    word = (result.Status or "").strip().upper()
    code = _error_code(result.ErrCodeExt, result.ErrCode)
    status: Status | None
    outcome: Outcome | None
    if word in SUB_STATUS:
        status, outcome = SUB_STATUS[word]
    else:
        if result.Status is not None:
            report.lenient.warn(f"{path}.Status", result.Status, "unknown sub-task status")
        status, outcome = (Status.FINISHED, Outcome.FAILED) if code is not None else (None, None)
    error = ErrorInfo(code=code, message=result.Message) if outcome is Outcome.FAILED else None
    sub = SubTask(label, status, outcome, error)
    report.subs.append(sub)
    if result.BeginProcessTime is not None:
        report.begins.append(result.BeginProcessTime)
    if result.FinishTime is not None and outcome is not None:
        report.ends.append(result.FinishTime)
    return sub


def _error_code(ext: str | None, code: int | None) -> str | None:
    if ext is not None and ext.strip().upper() not in _SUCCESS_CODES:
        return ext.strip()
    if code:
        return str(code)
    return None


# shared readers ------------------------------------------------------------------------------------------


def media_id(info: w.MediaInputInfo | None) -> str | None:
    """The input as one string: `cos://bucket/key`, the URL, `s3://bucket/key`, or the VOD FileId.

    The declared `Type` is read first, then any populated sibling (some bodies leave `Type` out).
    """
    if info is None:
        return None
    declared = _INPUT_READERS.get((info.Type or "").strip().upper())
    found = declared(info) if declared is not None else None
    return found or next((value for read in _INPUT_READERS.values() if (value := read(info))), None)


def _cos_input(input_info: w.MediaInputInfo) -> str | None:
    info = input_info.CosInputInfo
    return _object_uri("cos", info.Bucket, info.Object) if info is not None else None


def _url_input(input_info: w.MediaInputInfo) -> str | None:
    info = input_info.UrlInputInfo
    return info.Url if info is not None else None


def _s3_input(input_info: w.MediaInputInfo) -> str | None:
    info = input_info.S3InputInfo
    return _object_uri("s3", info.S3Bucket, info.S3Object) if info is not None else None


def _vod_input(input_info: w.MediaInputInfo) -> str | None:
    info = input_info.VODInputInfo
    if info is None:
        return None
    return info.FileId or _object_uri("vod", info.Bucket, info.Object)


#: `MediaInputInfo.Type` → the reader of its sibling, in the order undeclared inputs are tried.
_INPUT_READERS: dict[str, Callable[[w.MediaInputInfo], str | None]] = {
    "COS": _cos_input,
    "URL": _url_input,
    "AWS-S3": _s3_input,
    "VOD": _vod_input,
}


def _object_uri(scheme: str, bucket: str | None, key: str | None) -> str | None:
    if not bucket or not key:
        return None
    return f"{scheme}://{bucket}/{key.lstrip('/')}"


def storage(store: w.TaskOutputStorage | None, path: str | None, paths: list[str] | None = None) -> Storage | None:
    """Where an output was written: MPS names a bucket, a region and a path, never a URL."""
    if store is None and not path and not paths:
        return None
    kind = ""
    bucket = region = None
    if store is not None:
        kind = (store.Type or "").strip().upper()
        s3, vod, cos = store.S3OutputStorage, store.VODOutputStorage, store.CosOutputStorage
        if kind == "AWS-S3" or (not kind and s3 is not None):
            kind = "AWS-S3"
            if s3 is not None:
                bucket, region = s3.S3Bucket, s3.S3Region
        elif kind == "VOD" or (not kind and vod is not None):
            kind = "VOD"
            if vod is not None:
                bucket, region = vod.Bucket, vod.Region
        elif cos is not None:
            kind = kind or "COS"
            bucket, region = cos.Bucket, cos.Region
    return _validate_storage(
        {
            "type": STORAGE_TYPES.get(kind, kind.lower() or None),
            "bucket": bucket,
            "region": region,
            "path": path or None,
            "paths": paths if paths and paths != [path] else None,
        }
    )


def streams(video: Iterable[w.MediaVideoStreamItem], audio: Iterable[w.MediaAudioStreamItem]) -> list[Stream] | None:
    found = [
        _stream(
            {
                "type": "video",
                "codec": v.Codec or None,
                "bitrate_bps": v.Bitrate or None,
                "width": v.Width or None,
                "height": v.Height or None,
                "fps": _fps(v),
            }
        )
        for v in video
    ]
    found += [
        _stream(
            {
                "type": "audio",
                "codec": a.Codec or None,
                "bitrate_bps": a.Bitrate or None,
                "sample_rate_hz": a.SamplingRate or None,
            }
        )
        for a in audio
    ]
    return found or None


def _fps(stream: w.MediaVideoStreamItem) -> float | None:
    """`FpsNumerator/FpsDenominator` when given (exact, e.g. 30000/1001), else the rounded `Fps`."""
    if stream.FpsNumerator and stream.FpsDenominator:
        return round(stream.FpsNumerator / stream.FpsDenominator, 3)
    return stream.Fps or None


def _session(session_id: str | None, context: str | None) -> Session | None:
    if not session_id and not context:
        return None
    return Session(id=session_id or None, context=context or None)


def _populated(model: Any, keys: Iterable[str]) -> str | None:
    """The first of `keys` that is set on `model`."""
    for key in keys:
        if getattr(model, key, None) is not None:
            return key
    return None


def _is_event_key(key: Any) -> bool:
    """A callback's task-object key (`WorkflowTaskEvent`, …); DescribeTaskDetail's lack the suffix."""
    return isinstance(key, str) and key.endswith("TaskEvent")


def _event_type_from_keys(document: dict[str, Any]) -> str | None:
    """No EventType: name the event after the task object the body carries."""
    for event_type, (key, _) in EVENT_OBJECTS.items():
        if isinstance(document.get(key), dict):
            return event_type
    for key, value in document.items():
        if isinstance(key, str) and key.endswith("TaskEvent") and isinstance(value, dict):
            return key.removesuffix("Event")
    return None


def _query_object_key(document: dict[str, Any]) -> str | None:
    """The DescribeTaskDetail task object a document carries, if any (keys without the `Event` suffix)."""
    for _, key, _ in QUERY_OBJECTS.values():
        if isinstance(document.get(key), dict) and "EventType" not in document:
            return key
    return None


def _has_secrets(value: Any) -> bool:
    """Whether `value` holds a credential key at any depth: a look, which costs less than the copy that
    `_without_secrets` makes, and most values hold none."""
    if isinstance(value, dict):
        if not SECRET_KEYS.isdisjoint(value):
            return True
        value = value.values()
    elif not isinstance(value, list):
        return False
    # A loop rather than `any(<generator>)`, which steps a generator for every leaf (a third dearer here).
    for item in value:  # noqa: SIM110
        if isinstance(item, dict | list) and _has_secrets(item):
            return True
    return False


def _without_secrets(value: Any) -> Any:
    """A copy of `value` without credentials; leaves are taken as they are, without a call each."""
    if isinstance(value, dict):
        return {
            k: _without_secrets(v) if isinstance(v, dict | list) else v
            for k, v in value.items()
            if k not in SECRET_KEYS
        }
    if isinstance(value, list):
        return [_without_secrets(v) if isinstance(v, dict | list) else v for v in value]
    return value


def _shape(document: Any) -> Any:
    if isinstance(document, dict):
        return sorted(str(key) for key in document)[:12]
    return type(document).__name__


# outcome and the event -----------------------------------------------------------------------------------


def settle(report: Report) -> tuple[Status | None, Outcome | None, ErrorInfo | None]:
    """Task status, outcome and error from the task's word, its ErrCode and its sub-tasks (package doc)."""
    if report.fixed_state is not None:
        return report.fixed_state
    lenient = report.lenient
    word = (report.word or "").strip().upper()
    status = TASK_STATUS.get(word)
    if status is None and report.word is not None:
        lenient.warn(report.word_path, report.word, "unknown task status")
    if status is None and report.subs:
        pending = any(sub.outcome is None for sub in report.subs)
        status = Status.PROCESSING if pending else Status.FINISHED
        if not report.derive_status:
            lenient.warn(report.word_path, report.word, f"no task status; {status.value} derived from sub-tasks")
    task_error = ErrorInfo(code=str(report.err_code), message=report.message) if report.err_code else None
    if status is not Status.FINISHED:
        return status, None, task_error
    results = [sub.outcome for sub in report.subs if sub.outcome is not None]
    unfinished = [sub.label for sub in report.subs if sub.outcome is None]
    if unfinished:
        lenient.warn(report.word_path, report.word, f"finished task with unfinished sub-tasks {unfinished}")
    task_says = Outcome.FAILED if report.err_code else TASK_WORD_OUTCOME.get(word)
    from_results = _combine(results)
    if from_results is None:
        outcome = task_says or Outcome.SUCCESS
    else:
        outcome = from_results
        if task_says is not None and task_says is not from_results:
            lenient.warn(
                report.word_path,
                report.word,
                f"task says {task_says.value} (ErrCode {report.err_code}) but its sub-tasks say "
                f"{from_results.value}: outcome taken from the sub-tasks",
            )
    if outcome is Outcome.SUCCESS:
        return status, outcome, None
    first_failure = next((sub.error for sub in report.subs if sub.outcome is Outcome.FAILED), None)
    return status, outcome, task_error or first_failure


def _combine(results: list[Outcome]) -> Outcome | None:
    if not results:
        return None
    if all(result is Outcome.SUCCESS for result in results):
        return Outcome.SUCCESS
    if all(result is Outcome.FAILED for result in results):
        return Outcome.FAILED
    return Outcome.PARTIAL


def _event(report: Report, ctx: NormalizeContext) -> Event:
    status, outcome, error = settle(report)
    task_level = report.task_level_outputs
    outputs: list[Output] = []
    for fields in report.outputs:
        if task_level and fields["key"] in task_level:  # the task's own state (the fields are the report's)
            fields["status"], fields["outcome"], fields["error"] = status, outcome, error
        outputs.append(_output(fields))
    started = report.started_at or (min(report.begins) if report.begins else None)
    finished = None
    if status is Status.FINISHED:
        finished = report.finished_at or (max(report.ends) if report.ends else None)
    return ctx.event(
        {
            "event_type": report.event_type,
            "task_id": report.task_id or None,
            "task_kind": report.task_kind,
            "media_id": report.media_id,
            "status": status,
            "outcome": outcome,
            "provider_status": report.word,
            "error": error,
            "created_at": report.created_at,
            "started_at": started,
            "finished_at": finished,
            "outputs": outputs,
            "session": report.session,
            "extra": report.extra,
        },
        Provider.TENCENT_MPS,
        DIALECT_NAME,
        report.lenient.warnings,
    )

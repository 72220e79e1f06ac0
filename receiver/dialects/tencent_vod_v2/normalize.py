"""Legacy VOD documents → normalized events. The mapping tables are in the package docstring."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from receiver.dialects._coerce import Lenient, validate_leniently
from receiver.dialects.base import NormalizeContext, Unidentifiable
from receiver.dialects.tencent_vod_v2 import models as m
from receiver.model import (
    ErrorInfo,
    Event,
    Origin,
    Outcome,
    Output,
    OutputKind,
    Provider,
    Status,
    Stream,
    TaskKind,
    assemble_output,
    assemble_stream,
)

DIALECT_NAME = "tencent-vod-v2"

TASK_STATUS = {"WAITING": Status.WAITING, "PROCESSING": Status.PROCESSING, "FINISH": Status.FINISHED}
SUBTASK_STATUS = {
    "PROCESSING": (Status.PROCESSING, None),
    "SUCCESS": (Status.FINISHED, Outcome.SUCCESS),
    "FAIL": (Status.FINISHED, Outcome.FAILED),
}
#: GetTaskInfo/GetTaskList `type` (lower-cased) → the callback eventType whose `data` it carries.
QUERY_TYPE_EVENT = {
    "procedure": "ProcedureStateChanged",
    "transcode": "TranscodeComplete",
    "clipvideo": "ClipComplete",
    "clip_media": "ClipComplete",
    "concatfile": "ConcatComplete",
    "snapshotbytime": "CreateSnapshotByTimeOffsetComplete",
    "imagesprite": "CreateImageSpriteComplete",
}
SUBTASK_OUTPUT_KIND = {
    "Transcode": OutputKind.VIDEO,
    "AnimatedGraphics": OutputKind.ANIMATION,
    "SampleSnapshot": OutputKind.IMAGES,
    "SnapshotByTimeOffset": OutputKind.IMAGES,
    "CoverBySnapshot": OutputKind.IMAGE,
    "ImageSprites": OutputKind.SPRITE,
    "PullFile": OutputKind.FILE,
}


class _Draft:
    """Collects one event's fields while a data block is read, then builds the `Event`."""

    __slots__ = ("ctx", "fields", "lenient")

    def __init__(self, event_type: str, ctx: NormalizeContext, lenient: Lenient) -> None:
        self.fields: dict[str, Any] = {"event_type": event_type, "outputs": [], "extra": {}}
        self.ctx = ctx
        self.lenient = lenient

    def build(self) -> Event:
        """The event; the draft's own fields are handed over (a draft is built once)."""
        return self.ctx.event(self.fields, Provider.TENCENT_VOD, DIALECT_NAME, self.lenient.warnings)


#: Outputs and streams are built without validation (`receiver.model.assemble_output`): their values come from
#: the validated wire models, already of the fields' types, and validating them again cost a tenth of a
#: callback's normalization.
_output = assemble_output
_stream = assemble_stream


# entry point ---------------------------------------------------------------------------------------------


def normalize(document: Any, ctx: NormalizeContext) -> list[Event]:
    """Normalize a legacy callback, PullEvent answer, GetTaskInfo or GetProcedureInfo answer."""
    if not isinstance(document, dict):
        raise Unidentifiable("a legacy VOD document is a JSON object", "$", type(document).__name__)
    if "eventType" in document:
        return normalize_callback(document, ctx)
    if "eventList" in document or ctx.api == "PullEvent":
        return _pull_answer(document, ctx)
    if ctx.api == "GetProcedureInfo" or ("processTaskList" in document and "type" not in document):
        return [_procedure_answer(document, ctx)]
    if ctx.api == "GetTaskInfo" or ("type" in document and "code" in document):
        return [_task_info_answer(document, ctx)]
    raise Unidentifiable("no eventType, and not a task-query answer", "$", sorted(document)[:12])


def normalize_callback(document: dict[str, Any], ctx: NormalizeContext, path: str = "$") -> list[Event]:
    lenient = Lenient()
    envelope = validate_leniently(m.Envelope, document, lenient, path)
    data = envelope.data if envelope.data is not None else {}
    return read_callback(envelope.eventType, data, ctx, lenient, path)


def read_callback(event_type: str, data: Any, ctx: NormalizeContext, lenient: Lenient, path: str = "$") -> list[Event]:
    """A callback's events from its `data` block."""
    reader = CALLBACK_READERS.get(event_type)
    if reader is None:
        return [_generic(event_type, data, ctx, lenient, f"{path}.data").build()]
    return [draft.build() for draft in reader(data, ctx, lenient, f"{path}.data")]


# callbacks -----------------------------------------------------------------------------------------------


def _procedure(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    block = validate_leniently(m.ProcedureData, data, lenient, path)
    draft = _Draft("ProcedureStateChanged", ctx, lenient)
    _fill_procedure(draft, block, data, path, block.status)
    return [draft]


def _fill_procedure(
    draft: _Draft, block: m.ProcedureData, raw: dict[str, Any], path: str, status_word: str | None
) -> None:
    lenient = draft.lenient
    status = _task_status(status_word, path, lenient)
    outputs = _subtask_outputs(block.processTaskList or [])
    fields = draft.fields
    fields["task_id"] = block.vodTaskId or draft.ctx.task_id_hint
    fields["task_kind"] = TaskKind.PROCEDURE
    fields["media_id"] = block.fileId
    fields["status"] = status
    fields["provider_status"] = status_word
    fields["outputs"] = outputs
    if block.errCode:
        fields["error"] = ErrorInfo(code=str(block.errCode), message=block.message or None)
    if status is Status.FINISHED:
        fields["outcome"] = _procedure_outcome(block.errCode, outputs, lenient, path)
    extra = fields["extra"]
    for name in _VERBATIM:
        value = raw.get(name)
        if value:
            extra[name] = value


#: The procedure's blocks kept in `extra` as sent.
_VERBATIM = ("metaData", "drm", "contentReviewList", "aIAnalysisList")


def _procedure_outcome(err_code: int | None, outputs: Sequence[Output], lenient: Lenient, path: str) -> Outcome:
    """errCode ≠ 0 fails the flow; otherwise the sub-task results decide, and a disagreement is a warning."""
    if err_code:
        return Outcome.FAILED
    from_results = outcome_of(outputs)
    if from_results is not Outcome.SUCCESS:
        failed = sum(1 for output in outputs if output.outcome is Outcome.FAILED)
        lenient.warn(f"{path}.errCode", err_code, f"says success but {failed} of {len(outputs)} sub-tasks failed")
    return from_results


def outcome_of(outputs: Sequence[Output]) -> Outcome:
    """success when every output succeeded (or there are none), failed when none did, else partial."""
    results = [output.outcome for output in outputs if output.outcome is not None]
    if not results or all(result is Outcome.SUCCESS for result in results):
        return Outcome.SUCCESS
    if all(result is Outcome.FAILED for result in results):
        return Outcome.FAILED
    return Outcome.PARTIAL


def _subtask_outputs(tasks: Sequence[m.ProcessTask]) -> list[Output]:
    seen: dict[tuple[str, int | None], int] = {}
    outputs = []
    for task in tasks:
        task_type = task.taskType or "Unknown"
        task_input = task.input
        definition = None if task_input is None else task_input.definition
        repeat = (task_type, definition)
        position = seen.get(repeat, 0)
        seen[repeat] = position + 1
        status, outcome = _subtask_status(task.status)
        out = task.output or _NO_OUTPUT
        urls = _subtask_urls(out)
        video = out.videoStreamList
        fps = out.fps
        if fps is None and video:
            fps = video[0].fps
        outputs.append(
            _output(
                {
                    "key": f"{task_type}:{'' if definition is None else definition}#{position}",
                    "kind": SUBTASK_OUTPUT_KIND.get(task_type, OutputKind.OTHER),
                    "definition": None if definition is None else str(definition),
                    "url": out.url or (urls[0] if len(urls) == 1 and task_type == "CoverBySnapshot" else None),
                    "urls": urls or None,
                    "container": out.container,
                    "size_bytes": out.size if out.size is not None else out.fileSize,
                    "bitrate_bps": out.bitrate,
                    "width": out.width,
                    "height": out.height,
                    "duration_s": out.duration,
                    "fps": fps,
                    "md5": out.md5 or None,
                    "streams": _streams(video, out.audioStreamList) if video or out.audioStreamList else None,
                    "status": status,
                    "outcome": outcome,
                    "error": ErrorInfo(code=str(task.errCode), message=task.message or None) if task.errCode else None,
                }
            )
        )
    return outputs


#: What a sub-task without `output` reads as (only ever read).
_NO_OUTPUT = m.ProcessTaskOutput()


def _subtask_status(word: str | None) -> tuple[Status | None, Outcome | None]:
    """The sub-task's status word as sent (upper-case), else upper-cased; unknown words give none."""
    found = SUBTASK_STATUS.get(word or "")
    return found if found is not None else SUBTASK_STATUS.get((word or "").upper(), (None, None))


def _subtask_urls(out: m.ProcessTaskOutput) -> list[str]:
    if out.imageUrls:
        return list(out.imageUrls)
    if out.imgInfo:
        return [info.url for info in out.imgInfo if info.url]
    if out.urlList:
        return list(out.urlList)
    if isinstance(out.imageUrl, list):
        return list(out.imageUrl)
    if isinstance(out.imageUrl, str) and out.imageUrl:
        return [out.imageUrl]
    return []


def _streams(video: Sequence[m.VideoStream] | None, audio: Sequence[m.AudioStream] | None) -> list[Stream] | None:
    streams = [
        _stream(
            {
                "type": "video",
                "codec": s.codec,
                "bitrate_bps": s.bitrate,
                "width": s.width,
                "height": s.height,
                "fps": s.fps,
            }
        )
        for s in video or ()
    ]
    if audio:
        streams += [
            _stream({"type": "audio", "codec": s.codec, "bitrate_bps": s.bitrate, "sample_rate_hz": s.samplingRate})
            for s in audio
        ]
    return streams or None


def _transcode(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    block = validate_leniently(m.TranscodeData, data, lenient, path)
    draft = _Draft("TranscodeComplete", ctx, lenient)
    code = block.status if block.status is not None else block.errCode
    positions: dict[int | None, int] = {}
    outputs = []
    for item in block.playSet or []:
        position = positions.get(item.definition, 0)
        positions[item.definition] = position + 1
        outputs.append(
            _output(
                {
                    "key": f"Transcode:{'' if item.definition is None else item.definition}#{position}",
                    "kind": OutputKind.VIDEO,
                    "definition": None if item.definition is None else str(item.definition),
                    "url": item.url,
                    "bitrate_bps": item.vbitrate,
                    "width": item.vwidth,
                    "height": item.vheight,
                    "duration_s": block.duration,
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS,
                }
            )
        )
    if block.coverUrl:
        outputs.append(
            _output(
                {
                    "key": "Cover#0",
                    "kind": OutputKind.IMAGE,
                    "url": block.coverUrl,
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS,
                }
            )
        )
    _finished(draft, code, block.message)
    draft.fields.update(
        task_id=block.vodTaskId or ctx.task_id_hint,
        task_kind=TaskKind.TRANSCODE,
        media_id=block.fileId,
        outputs=outputs,
    )
    if block.fileName:
        draft.fields["extra"]["fileName"] = block.fileName
    return [draft]


def _finished(draft: _Draft, code: int | None, message: str | None) -> None:
    """A completion event: finished, and the integer status code decides success."""
    fields = draft.fields
    fields["status"] = Status.FINISHED
    fields["provider_status"] = None if code is None else str(code)
    fields["outcome"] = Outcome.SUCCESS if not code else Outcome.FAILED
    if code:
        draft.fields["error"] = ErrorInfo(code=str(code), message=message or None)


def _file_output(key: str, info: m.FileInfo, kind: OutputKind = OutputKind.VIDEO) -> Output:
    ok = not info.status
    return _output(
        {
            "key": key,
            "kind": kind,
            "url": info.fileUrl,
            "container": info.fileType,
            "status": Status.FINISHED,
            "outcome": Outcome.SUCCESS if ok else Outcome.FAILED,
            "error": None if ok else ErrorInfo(code=str(info.status), message=info.message or None),
        }
    )


def _clip(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    block = validate_leniently(m.ClipData, data, lenient, path)
    draft = _Draft("ClipComplete", ctx, lenient)
    info = block.fileInfo or m.FileInfo(status=block.status, message=block.message)
    code = info.status if info.status is not None else block.status
    _finished(draft, code, info.message or block.message)
    draft.fields.update(
        task_id=block.vodTaskId or ctx.task_id_hint,
        task_kind=TaskKind.CLIP,
        media_id=block.srcFileId,
        outputs=[_file_output("Clip#0", info)] if block.fileInfo else [],
    )
    if info.fileId:
        draft.fields["extra"]["outputFileIds"] = [info.fileId]
    return [draft]


def _concat(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    block = validate_leniently(m.ConcatData, data, lenient, path)
    draft = _Draft("ConcatComplete", ctx, lenient)
    kinds: dict[str | None, int] = {}
    outputs = []
    for info in block.fileInfo or []:
        position = kinds.get(info.fileType, 0)
        outputs.append(_file_output(f"Concat:{info.fileType or ''}#{position}", info))
        kinds[info.fileType] = position + 1
    draft.fields.update(
        task_id=block.vodTaskId or ctx.task_id_hint,
        task_kind=TaskKind.CONCAT,
        status=Status.FINISHED,
        outputs=outputs,
        provider_status=None if block.status is None else str(block.status),
    )
    outcome = outcome_of(outputs) if outputs else (Outcome.FAILED if block.status else Outcome.SUCCESS)
    if block.status and outcome is not Outcome.FAILED:
        outcome = Outcome.FAILED
    draft.fields["outcome"] = outcome
    failed = next((o.error for o in outputs if o.error), None)
    if block.status:
        draft.fields["error"] = ErrorInfo(code=str(block.status), message=block.message or None)
    elif failed is not None:
        draft.fields["error"] = failed
    file_ids = [info.fileId for info in block.fileInfo or [] if info.fileId]
    if file_ids:
        draft.fields["extra"]["outputFileIds"] = file_ids
    return [draft]


def _snapshot(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    block = validate_leniently(m.SnapshotData, data, lenient, path)
    draft = _Draft("CreateSnapshotByTimeOffsetComplete", ctx, lenient)
    definition = None if block.definition is None else str(block.definition)
    outputs = []
    for index, pic in enumerate(block.picInfo or []):
        ok = not pic.status
        offset = index if pic.timeOffset is None else pic.timeOffset
        outputs.append(
            _output(
                {
                    "key": f"SnapshotByTimeOffset:{definition or ''}:{offset}",
                    "kind": OutputKind.IMAGE,
                    "definition": definition,
                    "url": pic.url,
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS if ok else Outcome.FAILED,
                    "error": None if ok else ErrorInfo(code=str(pic.status)),
                }
            )
        )
    _finished(draft, block.status, block.message)
    if not block.status and outputs:
        draft.fields["outcome"] = outcome_of(outputs)
        # Failed pictures carry the only error code the event has (there is no data.status).
        draft.fields["error"] = next((o.error for o in outputs if o.error), None)
    draft.fields.update(
        task_id=block.vodTaskId or ctx.task_id_hint, task_kind=TaskKind.SNAPSHOT, media_id=block.fileId, outputs=outputs
    )
    return [draft]


def _sprite(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    block = validate_leniently(m.SpriteData, data, lenient, path)
    draft = _Draft("CreateImageSpriteComplete", ctx, lenient)
    _finished(draft, block.status, block.message)
    definition = None if block.definition is None else str(block.definition)
    outputs = []
    if block.imageSpriteUrl:
        outputs.append(
            _output(
                {
                    "key": f"ImageSprites:{definition or ''}#0",
                    "kind": OutputKind.SPRITE,
                    "definition": definition,
                    "urls": list(block.imageSpriteUrl),
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS,
                }
            )
        )
    draft.fields.update(
        task_id=block.vodTaskId or ctx.task_id_hint, task_kind=TaskKind.SPRITE, media_id=block.fileId, outputs=outputs
    )
    if block.webVttUrl:
        draft.fields["extra"]["webVttUrl"] = block.webVttUrl
    if block.totalCount is not None:
        draft.fields["extra"]["totalCount"] = block.totalCount
    return [draft]


def _upload(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    """NewFileUpload: a media event keyed by its file id when `vodTaskId` is empty (it usually is)."""
    block = validate_leniently(m.UploadData, data, lenient, path)
    draft = _Draft("NewFileUpload", ctx, lenient)
    _finished(draft, block.status, block.message)
    meta = block.metaData or m.MetaData()
    draft.fields.update(
        task_id=block.vodTaskId or None,
        task_kind=TaskKind.UPLOAD,
        media_id=block.fileId,
        outputs=[
            _output(
                {
                    "key": "File#0",
                    "kind": OutputKind.VIDEO,
                    "url": block.fileUrl,
                    "container": meta.container,
                    "size_bytes": meta.size if meta.size is not None else block.fileSize,
                    "bitrate_bps": meta.bitrate if meta.bitrate is not None else block.bitrate,
                    "width": meta.width if meta.width is not None else block.width,
                    "height": meta.height if meta.height is not None else block.height,
                    "duration_s": _first(meta.floatDuration, meta.duration, block.duration),
                    "md5": meta.md5 or None,
                    "streams": _streams(meta.videoStreamList, meta.audioStreamList),
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS if not block.status else Outcome.FAILED,
                }
            )
        ]
        if block.fileUrl or block.fileId
        else [],
    )
    extra = draft.fields["extra"]
    for name in (
        "procedureTaskId",
        "transcodeTaskId",
        "imageSpriteTaskId",
        "porncheckTaskId",
        "fileName",
        "sourceType",
        "sourceContext",
        "streamId",
        "coverUrl",
        "author",
    ):
        value = getattr(block, name)
        if value:
            extra[name] = value
    return [draft]


def _pull(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    block = validate_leniently(m.PullData, data, lenient, path)
    draft = _Draft("PullComplete", ctx, lenient)
    _finished(draft, block.status, block.message)
    draft.fields.update(
        task_id=block.vodTaskId or None,
        task_kind=TaskKind.PULL,
        media_id=block.fileId,
        outputs=[
            _output(
                {
                    "key": "File#0",
                    "kind": OutputKind.VIDEO,
                    "url": block.fileUrl,
                    "status": Status.FINISHED,
                    "outcome": Outcome.SUCCESS if not block.status else Outcome.FAILED,
                }
            )
        ]
        if block.fileUrl
        else [],
    )
    if block.transcodeTaskId:
        draft.fields["extra"]["transcodeTaskId"] = block.transcodeTaskId
    return [draft]


def _deleted(data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> list[_Draft]:
    """FileDeleted: one media event per deleted file id (no task)."""
    block = validate_leniently(m.DeleteData, data, lenient, path)
    file_ids = [info.fileId for info in block.fileInfo or [] if info.fileId]
    if not file_ids:
        lenient.warn(f"{path}.fileInfo", data.get("fileInfo"), "names no file")
        file_ids = [None]  # type: ignore[list-item]
    events: list[_Draft] = []
    for file_id in file_ids:
        draft = _Draft("FileDeleted", ctx, Lenient())
        draft.lenient.warnings = list(lenient.warnings)
        _finished(draft, block.status, block.message)
        draft.fields.update(task_kind=TaskKind.DELETE, media_id=file_id)
        events.append(draft)
    return events


def _generic(event_type: str, data: dict[str, Any], ctx: NormalizeContext, lenient: Lenient, path: str) -> _Draft:
    """An event type this version does not know: kept, with what can be read, and no status change."""
    draft = _Draft(event_type, ctx, lenient)
    draft.fields.update(
        task_id=lenient.str_(data.get("vodTaskId"), f"{path}.vodTaskId"),
        media_id=lenient.str_(data.get("fileId"), f"{path}.fileId"),
        task_kind=TaskKind.OTHER,
    )
    draft.fields["extra"]["data"] = data
    lenient.warn(f"{path[:-5] or '$'}.eventType", event_type, "unknown event type, kept as a generic event")
    return draft


def _first(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


def _task_status(word: str | None, path: str, lenient: Lenient) -> Status | None:
    """The status word of the block at `path` (as sent, else trimmed and upper-cased); an unknown one warns."""
    if word is None:
        return None
    status = TASK_STATUS.get(word)
    if status is None:
        status = TASK_STATUS.get(word.strip().upper())
        if status is None:
            lenient.warn(f"{path}.status", word, "unknown task status")
    return status


Reader = Callable[[Any, NormalizeContext, Lenient, str], list[_Draft]]

CALLBACK_READERS: dict[str, Reader] = {
    "ProcedureStateChanged": _procedure,
    "TranscodeComplete": _transcode,
    "ClipComplete": _clip,
    "ConcatComplete": _concat,
    "CreateSnapshotByTimeOffsetComplete": _snapshot,
    "CreateImageSpriteComplete": _sprite,
    "NewFileUpload": _upload,
    "PullComplete": _pull,
    "FileDeleted": _deleted,
}


# query answers -------------------------------------------------------------------------------------------


def _check_answer(answer: BaseModel, document: dict[str, Any], lenient: Lenient) -> None:
    code = getattr(answer, "code", None)
    if code:
        raise Unidentifiable(
            f"the query answer is an error: code {code}, {getattr(answer, 'message', '') or 'no message'}",
            "$.code",
            document.get("code"),
        )


def _task_info_answer(document: dict[str, Any], ctx: NormalizeContext) -> Event:
    """GetTaskInfo: the callback `data` block of the task's type, with the answer's status and times."""
    lenient = Lenient()
    answer = validate_leniently(m.TaskInfoAnswer, document, lenient)
    _check_answer(answer, document, lenient)
    type_word = (answer.type or "").strip()
    event_type = QUERY_TYPE_EVENT.get(type_word.lower())
    if event_type is None:
        raise Unidentifiable("unknown task type in the GetTaskInfo answer", "$.type", answer.type)
    data = dict(answer.data or {})
    if ctx.task_id_hint and not data.get("vodTaskId"):
        data["vodTaskId"] = ctx.task_id_hint
    [draft] = CALLBACK_READERS[event_type](data, _poll_ctx(ctx), lenient, "$.data")
    status = _task_status(answer.status, "$", lenient)
    fields = draft.fields
    fields.update(
        created_at=answer.createTime,
        started_at=answer.beginProcessTime,
        # finishTime is documented as the last update; it is a finish time only once the task finished.
        updated_at=answer.finishTime,
        finished_at=answer.finishTime if status is Status.FINISHED else None,
        provider_status=answer.status,
    )
    if status is not None and status is not Status.FINISHED:
        fields.update(status=status, outcome=None, error=None)
    elif status is Status.FINISHED and fields.get("status") is not Status.FINISHED:
        # The answer's own status wins over a data block that still says it is running.
        fields.update(status=status, outcome=fields.get("outcome") or outcome_of(fields["outputs"]))
    if answer.data is None:
        fields["outputs"] = []
    return draft.build()


def _procedure_answer(document: dict[str, Any], ctx: NormalizeContext) -> Event:
    """GetProcedureInfo: the procedure `data` block at the top level, without its task id (we asked by it)."""
    lenient = Lenient()
    block = validate_leniently(m.ProcedureData, document, lenient)
    code = document.get("code")
    if code not in (None, 0, "0", "4.0"):  # the seed's own example says "4.0" for success
        lenient.warn("$.code", code, "unexpected code in a GetProcedureInfo answer")
    draft = _Draft("ProcedureStateChanged", _poll_ctx(ctx), lenient)
    _fill_procedure(draft, block, document, "$", block.status)
    if not draft.fields.get("task_id"):
        raise Unidentifiable("a GetProcedureInfo answer needs the task id it was asked for", "$.vodTaskId", None)
    return draft.build()


def _pull_answer(document: dict[str, Any], ctx: NormalizeContext) -> list[Event]:
    lenient = Lenient()
    answer = validate_leniently(m.PullEventAnswer, document, lenient)
    _check_answer(answer, document, lenient)
    events: list[Event] = []
    for index, item in enumerate(answer.eventList or []):
        if not item.eventContent:
            continue
        pulled = NormalizeContext(
            source=ctx.source, origin=Origin.PULL, received_at=ctx.received_at, capture_id=ctx.capture_id, api=ctx.api
        )
        # The handle stays out of the event: the same event pulled twice must keep its content id.
        events.extend(normalize_callback(item.eventContent, pulled, f"$.eventList[{index}].eventContent"))
    return events


def _poll_ctx(ctx: NormalizeContext) -> NormalizeContext:
    origin = ctx.origin if ctx.origin is not Origin.CALLBACK else Origin.POLL
    return NormalizeContext(
        source=ctx.source,
        origin=origin,
        received_at=ctx.received_at,
        capture_id=ctx.capture_id,
        task_id_hint=ctx.task_id_hint,
        api=ctx.api,
    )

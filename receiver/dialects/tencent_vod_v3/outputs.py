"""Outputs of a VOD 3.0 task: sub-task results of a task flow and the files that 2017-style tasks produce.

Output keys are `<Type>:<Definition>#<n>`: the MediaProcessResultSet type, the template id the sub-task was
asked for (its `Input.Definition`, falling back to `Output.Definition`: outputs report 0 for "source" and
drift between 0 and 10, quirk Q15) and `n`, counting earlier sub-tasks of the same type and template. A
callback and a DescribeTaskDetail answer carry the same ProcedureTask, so one sub-task gets one key
whichever way it arrived, and a PROCESSING report (no `Output` yet) is replaced by its final report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from receiver.dialects._coerce import Lenient, validate_leniently
from receiver.dialects.base import Unidentifiable
from receiver.dialects.tencent_vod_v3 import models as m
from receiver.dialects.tencent_vod_v3.tables import FILE_KINDS, SUBTASK_STATUS, SUBTASK_TYPES
from receiver.model import ErrorInfo, Outcome, Output, OutputKind, Status, Stream, assemble_output, assemble_stream

#: One sub-task's verdict: its outcome (None while it runs) and its error.
Result = tuple[Outcome | None, ErrorInfo | None]
#: Outputs and streams are built without validation (`receiver.model.assemble_output`): their values come from
#: the validated wire models, already of the fields' types (str, int, float, enum members, `ErrorInfo` and
#: `Stream` models); validating them again cost about 4% of an event's normalization.
output_of = assemble_output
_stream = assemble_stream


def failure_code(ext: str | None, code: str | None) -> str | None:
    """The error code of a task or sub-task, or None for success: `ErrCodeExt` ("" = success) is preferred,
    then the deprecated integer `ErrCode` (0 = success)."""
    if ext:
        return ext
    if code and code.strip() not in ("0", "0.0"):
        return code
    return None


def error_of(ext: str | None, code: str | None, message: str | None) -> ErrorInfo | None:
    failing = failure_code(ext, code)
    if failing is None:
        return None
    return ErrorInfo(code=failing, message=message or None)


def subtask_verdict(
    status_word: str | None, ext: str | None, code: str | None, message: str | None, path: str, lenient: Lenient
) -> tuple[Status | None, Result]:
    """A sub-task's status and verdict from its `Status` word (PROCESSING/SUCCESS/FAIL), its codes deciding
    when the word is missing; a SUCCESS that carries an error code keeps its word, with a warning."""
    error = error_of(ext, code, message)
    word = (status_word or "").strip().upper()
    if word in SUBTASK_STATUS:
        status, outcome = SUBTASK_STATUS[word]
        if outcome is Outcome.SUCCESS and error is not None:
            lenient.warn(f"{path}.ErrCodeExt", error.code, "a SUCCESS sub-task carries an error code")
            error = None
        return status, (outcome, error if outcome is not Outcome.SUCCESS else None)
    if word:
        lenient.warn(f"{path}.Status", status_word, "unknown sub-task status")
    if error is not None:
        return Status.FINISHED, (Outcome.FAILED, error)
    return None, (None, None)


def streams_of(
    video: Sequence[m.VideoStream | None] | None, audio: Sequence[m.AudioStream | None] | None
) -> list[Stream] | None:
    streams = [
        _stream(
            {
                "type": "video",
                "codec": s.Codec,
                "bitrate_bps": s.Bitrate,
                "width": s.Width,
                "height": s.Height,
                "fps": s.Fps,
            }
        )
        for s in video or ()
        if s is not None
    ]
    if audio:
        streams += [
            _stream({"type": "audio", "codec": s.Codec, "bitrate_bps": s.Bitrate, "sample_rate_hz": s.SamplingRate})
            for s in audio
            if s is not None
        ]
    return streams or None


def file_kind(file_type: str | None, meta: m.MediaMetaData | None = None) -> OutputKind:
    """A new file's kind: its FileType when it names one, else the streams or container its metadata lists."""
    kind = _kind_of_words(file_type)
    if kind is not None:
        return kind
    if meta is not None:
        if meta.VideoStreamSet:
            return OutputKind.VIDEO
        if meta.AudioStreamSet:
            return OutputKind.AUDIO
        kind = _kind_of_words(meta.Container)
        if kind is not None:
            return kind
    return OutputKind.FILE


def _kind_of_words(text: str | None) -> OutputKind | None:
    """A demuxer's list of names ("mov,mp4,m4a,3gp,3g2,mj2") → the first name with a known kind."""
    for word in (text or "").lower().replace(" ", "").split(","):
        if word in FILE_KINDS:
            return FILE_KINDS[word]
    return None


def _definition_of(task: m.SubTaskResult) -> int | None:
    if task.Input is not None and task.Input.Definition is not None:
        return task.Input.Definition
    if task.Output is not None:
        return task.Output.Definition
    return None


def _result_object(item: m.MediaProcessTaskResult, path: str, lenient: Lenient) -> tuple[str, m.SubTaskResult | None]:
    """The populated result object of one MediaProcessResultSet item and the key it was found under."""
    known = SUBTASK_TYPES.get(item.Type or "")
    if known is not None:
        found = getattr(item, known[0])
        if found is not None:
            return known[0], found
    for key, _kind in SUBTASK_TYPES.values():
        found = getattr(item, key)
        if found is not None:
            return key, found
    for key, value in (item.model_extra or {}).items():
        if isinstance(value, dict) and ("Status" in value or "Output" in value):
            try:
                return key, validate_leniently(m.SubTaskResult, value, lenient, f"{path}.{key}")
            except Unidentifiable:
                continue
    return "", None


def subtask_outputs(
    items: Sequence[m.MediaProcessTaskResult | None], path: str, lenient: Lenient
) -> tuple[list[Output], list[Result]]:
    """One output per MediaProcessResultSet item, with each sub-task's verdict for the task's outcome."""
    seen: dict[tuple[str, int | None], int] = {}
    outputs: list[Output] = []
    results: list[Result] = []
    for index, item in enumerate(items):
        if item is None:
            continue
        known = SUBTASK_TYPES.get(item.Type or "")
        task = getattr(item, known[0]) if known is not None else None
        if task is not None and known is not None:  # the usual case: `Type` names the populated object
            key = known[0]
        else:
            key, task = _result_object(item, f"{path}[{index}]", lenient)
            if task is None:
                lenient.warn(f"{path}[{index}]", item.Type, "a sub-task result without a result object")
                continue
        type_name = item.Type or key.removesuffix("Task") or "Unknown"
        kind = SUBTASK_TYPES.get(type_name, _NO_TYPE)[1]
        definition = _definition_of(task)
        position = seen.get((type_name, definition), 0)
        seen[(type_name, definition)] = position + 1
        status, result = subtask_verdict(
            task.Status, task.ErrCodeExt, task.ErrCode, task.Message, f"{path}[{index}].{key}", lenient
        )
        results.append(result)
        out = task.Output or _NO_OUTPUT
        video, audio = out.VideoStreamSet, out.AudioStreamSet
        if kind is OutputKind.VIDEO and not video and audio:
            kind = OutputKind.AUDIO
        outputs.append(
            output_of(
                {
                    "key": f"{type_name}:{'' if definition is None else definition}#{position}",
                    "kind": kind,
                    "definition": None if definition is None else str(definition),
                    "url": out.Url or out.CoverUrl or out.WebVttUrl or None,
                    "urls": _urls(out),
                    "container": out.Container or out.Package or None,
                    "size_bytes": out.Size,
                    "bitrate_bps": out.Bitrate,
                    "width": out.Width,
                    "height": out.Height,
                    "duration_s": _duration(out),
                    "fps": _fps(out),
                    "md5": out.Md5 or None,
                    "streams": (streams_of(video, audio) if video or audio else None) or _sub_streams(out.SubStreamSet),
                    "status": status,
                    "outcome": result[0],
                    "error": result[1],
                }
            )
        )
    return outputs, results


_NO_TYPE = ("", OutputKind.OTHER)
_NO_OUTPUT = m.MediaOutputItem()


def _urls(out: m.MediaOutputItem) -> list[str] | None:
    """Image sets: ImageUrlSet (sample snapshots, sprites) or PicInfoSet (time-offset snapshots; one doc
    example also uses it for sample snapshots)."""
    urls = [url for url in out.ImageUrlSet if url] if out.ImageUrlSet else None
    if not urls and out.PicInfoSet:
        urls = [pic.Url for pic in out.PicInfoSet if pic is not None and pic.Url]
    return urls or None


def _duration(out: m.MediaOutputItem) -> float | None:
    if out.Duration is not None:
        return out.Duration
    if out.StartTimeOffset is not None and out.EndTimeOffset is not None and out.EndTimeOffset > out.StartTimeOffset:
        return out.EndTimeOffset - out.StartTimeOffset  # an animated graphic's span in the source
    return None


def _fps(out: m.MediaOutputItem) -> float | None:
    if out.Fps is not None:
        return out.Fps
    video = next((s for s in out.VideoStreamSet or [] if s is not None), None)
    return video.Fps if video is not None else None


def _sub_streams(sub_streams: Sequence[m.SubStream | None] | None) -> list[Stream] | None:
    if not sub_streams:
        return None
    streams = [
        _stream({"type": (s.Type or "video").lower(), "width": s.Width, "height": s.Height})
        for s in sub_streams
        if s is not None
    ]
    return streams or None


def ai_results(sets: dict[str, list[Any] | None], path: str, lenient: Lenient) -> list[Result]:
    """Verdicts of the AI sub-tasks (review, analysis, recognition) of a task flow: each item holds one
    populated `<Type>Task` object with the usual Status/ErrCodeExt/ErrCode/Message."""
    results: list[Result] = []
    for name, items in sets.items():
        for index, item in enumerate(items or []):
            if not isinstance(item, dict):
                continue
            for key, value in item.items():
                if not isinstance(value, dict) or "Status" not in value:
                    continue
                here = f"{path}.{name}[{index}].{key}"
                _status, result = subtask_verdict(
                    lenient.str_(value.get("Status"), f"{here}.Status"),
                    lenient.code_(value.get("ErrCodeExt"), f"{here}.ErrCodeExt"),
                    lenient.code_(value.get("ErrCode"), f"{here}.ErrCode"),
                    lenient.str_(value.get("Message"), f"{here}.Message"),
                    here,
                    lenient,
                )
                results.append(result)
    return results


def file_output(
    key: str,
    *,
    url: str | None,
    file_type: str | None,
    meta: m.MediaMetaData | None,
    status: Status | None,
    result: Result,
) -> Output:
    """A new media file a task produced (upload, pull, edit, compose, clip, concat, rebuild, split)."""
    meta = meta or _NO_METADATA
    video, audio = meta.VideoStreamSet, meta.AudioStreamSet
    return output_of(
        {
            "key": key,
            "kind": file_kind(file_type, meta),
            "url": url or None,
            "container": file_type or meta.Container or None,
            "size_bytes": meta.Size,
            "bitrate_bps": meta.Bitrate,
            "width": meta.Width,
            "height": meta.Height,
            "duration_s": meta.Duration,
            "md5": meta.Md5 or None,
            "streams": streams_of(video, audio) if video or audio else None,
            "status": status,
            "outcome": result[0],
            "error": result[1],
        }
    )


#: What a file without metadata reads as (only ever read).
_NO_METADATA = m.MediaMetaData()

"""Wire models of Alibaba Cloud VOD event callbacks and of the GetTranscodeTask / ListTranscodeTask answers.

Field names are Alibaba's own (UpperCamel). Every model strips the stray spaces some bodies put around
keys (`"SourceURL "`) from the object it reads, one level at a time (`strip_key_spaces`), so pass-through
data (AI results, `Extend`) stays verbatim and is not walked. Every field is optional and loosely typed:
pydantic's lax mode reads numeric strings as numbers (`"Bitrate":"964"`, `"Size":"1234568"`) and numbers as
strings, `Time` reads `…Z`, `….SSSZ` and `…:SSSZ`, and `validate_leniently` nulls any field it still
rejects (the docs' year `"019-01-23T12:35:12Z"`) with a warning, so one malformed nested value never costs
the whole payload. Unknown keys are ignored (`extra="ignore"`): nothing reads them, and keeping them made every
instance dearer to build.

Values documented as "a JSON string" (`StreamInfos` when a relay re-encodes it, the query's
`VideoStreamList`/`AudioStreamList`/`Encryption`, `DynamicImageJobInfo`) go through `json_text`, which
decodes them once or twice and repairs the two malformed forms the 2021 GetTranscodeTask doc prints (seed
004); text that still is not JSON fails that one field. Pass-through values whose shape is the caller's
(`Extend`, AI `Data`, `MediaContent`) are `Any` and read by the normalizer.

List items are typed `X | None` so that a malformed item is nulled in place (and skipped) rather than
failing its list. Where a field is named like its class (`OutputFile: OutputFile`), the annotation uses a
module-level alias, because inside the class body the field name shadows the class.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, model_validator

from receiver.dialects._coerce import loads, read_time, time_error, unix_or_iso_time
from receiver.dialects.base import body_validator


def strip_key_spaces(value: dict[Any, Any]) -> dict[Any, Any]:
    """`value` with its own keys stripped of surrounding spaces (the same object when none has any)."""
    # The usual cases, checked in C: every key is a field name (a set look-up each), or no key has a space.
    if _FIELD_NAMES.issuperset(value) or all(map(str.isidentifier, value)):
        return value
    for key in value:
        if isinstance(key, str) and key != key.strip():
            return {(k.strip() if isinstance(k, str) else k): v for k, v in value.items()}
    return value


class Reading:
    """The fast path's validation context (pydantic's `info.context`): what its validation met that the
    ordinary path reads another way. `texts`: the names of the fields whose value came as JSON text;
    `repaired`: the texts repaired (see `MANGLED_JSON`); `unreadable`: the texts that are not JSON, as (field,
    text, problem), each field left None; `unread`: how many times were not readable (each is left in its field
    as an `UnreadTime`). The ordinary path validates without one. (Made for every body: the class attributes
    stand for "none yet", so making one costs nothing more.)"""

    texts: tuple[str | None, ...] = ()
    repaired: tuple[str, ...] = ()
    unreadable: tuple[tuple[str | None, str, str], ...] = ()
    unread = 0


class UnreadTime(datetime):
    """A time the fast path's validation could not read (`value`, as sent; `problem`, why), left in its field
    instead of failing the whole body: the fast path then nulls it with the warning the ordinary path gives."""

    __slots__ = ("problem", "value")
    value: Any
    problem: str


def provider_time(value: Any, info: ValidationInfo) -> Any:
    """An Alibaba time. The common `yyyy-MM-ddTHH:mm:ssZ` is parsed directly (it is most of the cost of a
    callback otherwise); anything else (`:SSS` milliseconds, zero dates, garbage) goes to the shared reader.
    Garbage fails the field, or in the fast path's validation becomes an `UnreadTime`."""
    if type(value) is str and len(value) == 20 and value[19] == "Z" and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.year >= 1971:
                return parsed
    reading = info.context
    if type(reading) is not Reading:
        return unix_or_iso_time(value)
    read, problem = read_time(value)  # what `unix_or_iso_time` reads, without raising
    if problem is None:
        return read
    reading.unread += 1
    unread = UnreadTime(1970, 1, 1)
    unread.value = value
    unread.problem = time_error(value)  # in the words `unix_or_iso_time` raises with
    return unread


#: A provider time: `…Z`, `….SSSZ`, `…:SSSZ` or unix seconds; zero dates None; garbage fails the field.
Time = Annotated[datetime | None, BeforeValidator(provider_time)]


class Wire(BaseModel):
    """Base of every Alibaba wire model: unknown keys ignored, numbers and strings coerced both ways."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _strip_key_spaces(cls, data: Any) -> Any:
        return strip_key_spaces(data) if isinstance(data, dict) else data


# JSON carried inside strings ------------------------------------------------------------------------------

#: `[{\"AvgFPS\":…` (quotes escaped once too often) or `"AudioStreamList": "[{\"Bitrate\"…` (a key and an
#: opening quote pasted in front, never closed): the two shapes of the 2021 GetTranscodeTask doc (seed 004).
MANGLED_JSON = re.compile(r'^\s*(?:"\w+"\s*:\s*")?[\[{]\s*\{?\s*\\"')


def repair_json_text(text: str) -> Any:
    """Recover the value inside a mangled JSON text, or raise ValueError when it cannot be recovered."""
    try:
        return loads(repaired_json_text(text))
    except json.JSONDecodeError:
        raise ValueError("not valid JSON text, even with escaped quotes repaired") from None


def repaired_json_text(text: str) -> str:
    """The JSON text inside a mangled one (perhaps still not JSON), or ValueError when there is none."""
    starts = [index for index in (text.find("["), text.find("{")) if index >= 0]
    end = max(text.rfind("]"), text.rfind("}"))
    if not starts or end < min(starts):
        raise ValueError("not valid JSON text")
    return text[min(starts) : end + 1].replace('\\"', '"')


def json_text(value: Any, reading: Reading | None = None) -> Any:
    """Decode a value documented as JSON text: once, twice when a relay re-encoded it, or repaired (the text is
    then noted in `reading`, when given).

    Values that are not strings pass through for pydantic to check against the field's type. A text the
    pattern of a mangled one matches is never JSON: it is repaired without a try at parsing it first.
    """
    for _ in range(3):
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        if "\\" in text and MANGLED_JSON.match(text):
            if reading is not None:
                reading.repaired += (text,)
            return repair_json_text(text)
        try:
            value = loads(text)
        except json.JSONDecodeError:
            raise ValueError("not valid JSON text") from None
    return value


def json_list(value: Any, reading: Reading | None = None) -> Any:
    """Like `json_text`, and a lone object where a list belongs becomes a one-item list."""
    value = json_text(value, reading)
    return [value] if isinstance(value, dict) else value


def _text_field(info: ValidationInfo) -> Reading | None:
    """The `Reading` of a validation that met a field's value as JSON text, with the field noted in it."""
    reading = info.context
    if type(reading) is not Reading:
        return None
    reading.texts += (info.field_name,)
    return reading


def _json_object_field(value: Any, info: ValidationInfo) -> Any:
    if value == "{}":  # the usual `Encryption` of a job: what decoding it gives, at once
        return {}
    return _json_field(json_text, value, info)


def _json_list_field(value: Any, info: ValidationInfo) -> Any:
    if value == "[]":  # the usual `SubtitleStreamList` of a job: what decoding it gives, at once
        return []
    return _json_field(json_list, value, info)


def _json_field(decode: Callable[[Any, Reading | None], Any], value: Any, info: ValidationInfo) -> Any:
    """`decode(value)` for a field's validator. A text that is not JSON fails the field; in the fast path's
    validation, it is noted in its `Reading` and the field left None."""
    reading = _text_field(info) if type(value) is str else None
    return _decoded(decode, value, reading, info.field_name)


def _decoded(decode: Callable[[Any, Reading | None], Any], value: Any, reading: Reading | None, field: Any) -> Any:
    if reading is None:
        return decode(value, None)
    try:
        return decode(value, reading)
    except ValueError as error:
        reading.unreadable += ((field, value, str(error)),)
        return None


def _contents(text: str) -> str:
    """The text a JSON string encodes (as `json_text` reads it: one more decoding), or `text` itself when it is
    no JSON string. (A JSON string never looks mangled: that takes a key and a colon after it.)"""
    stripped = text.strip()
    if len(stripped) > 1 and stripped[0] == '"' == stripped[-1]:
        try:
            inner = loads(stripped)
        except ValueError:
            return text
        if type(inner) is str:
            return inner
    return text


def _plain(text: str) -> bool:
    """True for a JSON text where no key can have surrounding spaces: ASCII, without a backslash (no escapes),
    and without a space beside a quote (Alibaba's compact JSON)."""
    return text.isascii() and "\\" not in text and ' "' not in text and '" ' not in text


def json_model_list(model: type[Wire]) -> BeforeValidator:
    """The validator of a list of `model`s sent as JSON text: `json_list`, but a plain text (`_plain`) is
    validated straight into `model`s.

    Stream lists come as JSON text of ffprobe's output, twenty-odd keys per stream of which a model reads six to
    eight: decoding every key into a dict only for validation to pick a few cost more than the rest of a job.
    pydantic reads the text itself and skips the other keys, but without `Wire`'s key stripping, hence `_plain`.
    A text encoded once more (a JSON string: a relay re-encoded it) is looked at for what it encodes, and a
    mangled one (`MANGLED_JSON`) for the text inside it (noted as a repair in a `Reading`). Anything else, and
    any text that fails there, takes `json_list` and ordinary validation, exactly as before; the models either
    way hold the same values.
    """
    items: Any = body_validator(list[model | None], skip=Wire._strip_key_spaces)  # type: ignore[valid-type]  # reads str too

    def model_list(value: Any, info: ValidationInfo) -> Any:
        if type(value) is not str:
            return json_list(value)
        if value == "[]":  # a failed job's stream lists: what decoding them gives, at once
            return []
        reading = _text_field(info)
        text: str | None = _contents(value)
        if text and "\\" in text and MANGLED_JSON.match(text.strip()):
            try:
                text = repaired_json_text(text.strip())
            except ValueError:
                text = None  # `json_list` says what is wrong with it
            else:
                if reading is not None:
                    reading.repaired += (text,)
        if text is not None and _plain(text):
            try:
                return items.validate_json(text)
            except ValidationError:
                pass
        return _decoded(json_list, value, reading, info.field_name)

    return BeforeValidator(model_list)


JsonList = BeforeValidator(_json_list_field)
JsonObject = BeforeValidator(_json_object_field)


# callbacks ---------------------------------------------------------------------------------------------


class Callback(Wire):
    """The fields every event may carry; which id is present depends on the event (§2.8: VideoId, MediaId,
    ImageId or AttachedMediaId)."""

    EventType: str | None = None
    EventTime: Time = None
    VideoId: str | None = None
    MediaId: str | None = None
    ImageId: str | None = None
    AttachedMediaId: str | None = None
    JobId: str | None = None
    Status: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    Extend: Any = None


class StreamFields(Wire):
    """One transcoded stream: a `StreamInfos[]` item, or the flat body of StreamTranscodeComplete (§2.1)."""

    Status: str | None = None
    Bitrate: float | None = None  # kbps, sent as a string ("1110")
    Definition: str | None = None  # callback vocabulary: FD < LD < SD < HD, OD, 2K, 4K, AUTO (+ "-MP4" suffixes)
    Duration: float | None = None  # seconds
    Encrypt: bool | None = None
    EncryptType: str | None = None
    Codec: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    FileUrl: str | None = None
    Format: str | None = None
    Fps: float | None = None  # sent as a string ("25")
    Height: int | None = None
    Width: int | None = None
    Size: int | None = None  # bytes
    JobId: str | None = None
    WatermarkId: str | None = None  # comma-separated
    IsAudio: bool | None = None
    StartTime: Time = None
    FinishTime: Time = None


class StreamInfo(StreamFields):
    pass


StreamInfoList = json_model_list(StreamInfo)


class TranscodeComplete(Callback):
    StreamInfos: Annotated[list[StreamInfo | None] | None, StreamInfoList] = None


class StreamTranscodeComplete(StreamFields, Callback):
    pass


class FileUploadComplete(Callback):
    Size: int | None = None
    FileUrl: str | None = None
    FileURL: str | None = None


class SnapshotInfo(Wire):
    Status: str | None = None
    SnapshotType: str | None = None  # CoverSnapshot | NormalSnapshot | SpriteSnapshot
    SnapshotCount: int | None = None
    SnapshotFormat: str | None = None
    SnapshotRegular: str | None = None  # URL rule; "{SnapshotCount}" → 5-digit index from 00001
    JobId: str | None = None


class SnapshotComplete(Callback):
    SubType: str | None = None
    CoverUrl: str | None = None
    SnapshotInfos: Annotated[list[SnapshotInfo | None] | None, JsonList] = None


class VideoAnalysisComplete(Callback):
    Width: int | None = None
    Height: int | None = None
    Duration: float | None = None
    Bitrate: float | None = None  # kbps
    Fps: float | None = None
    Size: int | None = None


class AIJobComplete(Callback):
    """AIMediaAuditComplete, AIMediaDNAComplete, AIVideoTagComplete: `Data` is a JSON string or an object."""

    Code: str | None = None
    Message: str | None = None
    Data: Any = None


class CreateAuditComplete(Callback):
    SubType: str | None = None
    AuditStatus: str | None = None  # Normal | Blocked
    CreationTime: Time = None
    Auditor: str | None = None
    Reason: str | None = None


class DeleteMediaComplete(Callback):
    MediaType: str | None = None  # video | image | attached
    DeleteType: str | None = None  # all | mezzanine | stream
    JobIds: Any = None  # only for DeleteType=stream; a string (comma-separated) or a list


class ProduceMediaComplete(Callback):
    ProjectId: str | None = None


class MediaBaseChangeComplete(Callback):
    MediaType: str | None = None
    OperateMode: str | None = None  # create | update | delete
    MediaContent: Any = None  # JSON text, or an object whose values are JSON text


class FileUpload(Callback):
    """ImageUploadComplete and AttachedMediaUploadComplete: `FileURL` (capital URL), `Size`."""

    FileURL: str | None = None
    FileUrl: str | None = None
    Size: int | None = None
    AppId: str | None = None


class UploadByURLComplete(Callback):
    SourceURL: str | None = None
    Size: int | None = None
    FileType: str | None = None  # "Stream" for UploadStreamByURL
    StreamFileURL: str | None = None


class LiveRecord(Callback):
    """AddLiveRecordVideoComplete and LiveRecordVideoComposeStart."""

    StreamName: str | None = None
    DomainName: str | None = None
    AppName: str | None = None
    RecordStartTime: Time = None
    RecordEndTime: Time = None


class DynamicImageJobInfo(Wire):
    JobId: str | None = None
    Status: str | None = None
    FileURL: str | None = None
    FileSize: int | None = None
    Fps: float | None = None
    Height: int | None = None
    Width: int | None = None


_DynamicImageJobInfo = DynamicImageJobInfo


class DynamicImageComplete(Callback):
    DynamicImageJobInfo: Annotated[_DynamicImageJobInfo | None, JsonObject] = None


# query answers -----------------------------------------------------------------------------------------


class VideoStream(Wire):
    """A `VideoStreamList` item (ffprobe-like, every value a string)."""

    Index: int | None = None
    CodecName: str | None = None
    Bitrate: float | None = None  # kbps ("933.814")
    Width: int | None = None
    Height: int | None = None
    Fps: float | None = None
    AvgFPS: float | None = None
    Duration: float | None = None


class AudioStream(Wire):
    Index: int | None = None
    CodecName: str | None = None
    Bitrate: float | None = None  # kbps ("64.533")
    Samplerate: int | None = None
    Channels: int | None = None
    Duration: float | None = None


VideoStreams = json_model_list(VideoStream)
AudioStreams = json_model_list(AudioStream)
#: Every field validator that decodes JSON text (the fast path validates a value sent natively first).
TEXT_DECODERS = (JsonList.func, JsonObject.func, StreamInfoList.func, VideoStreams.func, AudioStreams.func)


class OutputFile(Wire):
    OutputFileUrl: str | None = None  # "{DestMd5}" left in it for failed jobs
    Format: str | None = None
    Filesize: int | None = None
    Bitrate: float | None = None  # kbps
    Duration: float | None = None
    Fps: float | None = None
    Height: int | None = None
    Width: int | None = None
    Encryption: Annotated[dict[str, Any] | None, JsonObject] = None
    VideoStreamList: Annotated[list[VideoStream | None] | None, VideoStreams] = None
    AudioStreamList: Annotated[list[AudioStream | None] | None, AudioStreams] = None
    SubtitleStreamList: Annotated[list[Any] | None, JsonList] = None
    WatermarkIdList: Any = None  # a list, a JSON string of one, a bare id, or a list of JSON strings


_OutputFile = OutputFile


class TranscodeJobInfo(Wire):
    TranscodeJobId: str | None = None  # = the callbacks' per-stream JobId
    TranscodeTemplateId: str | None = None
    TranscodeJobStatus: str | None = None  # Transcoding | TranscodeSuccess | TranscodeFail
    TranscodeProgress: int | None = None
    Priority: str | None = None
    Definition: str | None = None  # query vocabulary: LD < SD < HD < FHD, OD, 2K, 4K, SQ, HQ, AUTO
    InputFileUrl: str | None = None
    CreationTime: Time = None
    CompleteTime: Time = None
    FinishTime: Time = None  # what the 2019 doc's failed job has instead of CompleteTime
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    OutputFile: Annotated[_OutputFile | None, JsonObject] = None


class TranscodeTask(Wire):
    """GetTranscodeTask's `TranscodeTask`, and a ListTranscodeTask item (which has no job list)."""

    TranscodeTaskId: str | None = None
    VideoId: str | None = None
    TaskStatus: str | None = None
    Trigger: str | None = None
    TranscodeTemplateGroupId: str | None = None
    CreationTime: Time = None
    CompleteTime: Time = None
    TranscodeJobInfoList: Annotated[list[TranscodeJobInfo | None] | None, JsonList] = None


_TranscodeTask = TranscodeTask


class ErrorAnswer(Wire):
    """The POP error envelope (§4.4): `Code` and `Message` instead of a result."""

    RequestId: str | None = None
    Code: str | None = None
    Message: str | None = None


class GetTranscodeTaskAnswer(ErrorAnswer):
    TranscodeTask: Annotated[_TranscodeTask | None, JsonObject] = None
    #: At the top level when the query named `JobIds` instead of a `TranscodeTaskId`.
    TranscodeJobInfoList: Annotated[list[TranscodeJobInfo | None] | None, JsonList] = None
    NonExistJobIds: Annotated[list[str] | None, JsonList] = None


class ListTranscodeTaskAnswer(ErrorAnswer):
    TranscodeTaskList: Annotated[list[TranscodeTask | None] | None, JsonList] = None


def _field_names(model: type[Wire]) -> set[str]:
    return set(model.model_fields).union(*(_field_names(sub) for sub in model.__subclasses__()))


#: The documented keys of `VideoStreamList` and `AudioStreamList` items (reference §4.1) that no model reads.
_STREAM_KEYS = {
    "ChannelLayout",
    "CodecLongName",
    "CodecTag",
    "CodecTagString",
    "CodecTimeBase",
    "Dar",
    "HasBFrames",
    "Lang",
    "Level",
    "PixFmt",
    "Profile",
    "SampleFmt",
    "Sar",
    "StartTime",
    "Timebase",
}
#: Every field name of every wire model, and the documented keys above, none with surrounding spaces: what
#: `strip_key_spaces` checks first.
_FIELD_NAMES = frozenset(_field_names(Wire) | _STREAM_KEYS)

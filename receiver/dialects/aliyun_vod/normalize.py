"""Alibaba VOD documents → normalized events. The mapping tables are in the package docstring."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel

from receiver.dialects._coerce import Lenient, Prevalidated, validate_leniently
from receiver.dialects.aliyun_vod import models as m
from receiver.dialects.base import NormalizeContext, Unidentifiable
from receiver.model import (
    ErrorInfo,
    Event,
    Origin,
    Outcome,
    OutputKind,
    Provider,
    Session,
    Status,
    Stream,
    TaskKind,
    assemble_output,
    assemble_stream,
)

DIALECT_NAME = "aliyun-vod"
GET_TRANSCODE_TASK = "GetTranscodeTask"
LIST_TRANSCODE_TASK = "ListTranscodeTask"

#: GetTranscodeTask's definition words → the callback/playback vocabulary (reference §6.6; seed 003 confirms:
#: its "LD" jobs are 640×360 and their URLs end in "-fd"). Words not listed are the same in both.
QUERY_DEFINITIONS = {"LD": "FD", "SD": "LD", "HD": "SD", "FHD": "HD"}

# The members a report reads most, as module constants: on Python 3.11 an enum class's attribute goes through
# its metaclass's `__getattr__`, some twenty times the cost of a global, and a report reads a dozen.
FINISHED, PROCESSING = Status.FINISHED, Status.PROCESSING
SUCCESS, FAILED, PARTIAL = Outcome.SUCCESS, Outcome.FAILED, Outcome.PARTIAL

#: TaskStatus → (status, outcome). Misspellings are read by `task_word`.
TASK_STATUS: dict[str, tuple[Status, Outcome | None]] = {
    "Processing": (PROCESSING, None),
    "Partial": (PROCESSING, None),
    "CompleteAllSucc": (FINISHED, SUCCESS),
    "CompleteAllFail": (FINISHED, FAILED),
    "CompletePartialSucc": (FINISHED, PARTIAL),
}
_TASK_BY_LETTERS = {word.lower(): word for word in TASK_STATUS}
#: TranscodeJobStatus → (status, outcome).
JOB_STATUS: dict[str, tuple[Status, Outcome | None]] = {
    "Transcoding": (PROCESSING, None),
    "TranscodeSuccess": (FINISHED, SUCCESS),
    "TranscodeFail": (FINISHED, FAILED),
}
#: Callback `Status` words as the docs spell them, looked up before `result_word` reads other spellings.
RESULT_WORDS: dict[str | None, Outcome] = {"success": SUCCESS, "fail": FAILED}
_JOB_BY_LOWER = {word.lower(): word for word in JOB_STATUS}
STREAMING_FORMATS = frozenset({"m3u8", "mpd"})
AUDIO_FORMATS = frozenset({"mp3", "m4a", "aac", "flac", "ogg", "wav", "opus"})
#: The kind of a container's output (`media_kind`); any other container's is video.
CONTAINER_KINDS: dict[str | None, OutputKind] = {
    **dict.fromkeys(STREAMING_FORMATS, OutputKind.STREAMING),
    **dict.fromkeys(AUDIO_FORMATS, OutputKind.AUDIO),
}
_AUDIO, _VIDEO = OutputKind.AUDIO, OutputKind.VIDEO
AUDIO_DEFINITIONS = frozenset({"SQ", "HQ"})
SNAPSHOT_KINDS = {
    "CoverSnapshot": OutputKind.IMAGES,
    "NormalSnapshot": OutputKind.IMAGES,
    "SpriteSnapshot": OutputKind.SPRITE,
}
#: More snapshot URLs than this are not expanded from `SnapshotRegular` (a bogus count must not cost memory).
MAX_SNAPSHOT_URLS = 10_000

W = TypeVar("W", bound=BaseModel)

#: A wire model's field values by name (its `__dict__`, read through BaseModel's own slot). The readers of
#: streams and jobs read their twenty-odd fields here: a model's attribute goes through pydantic's
#: `__getattr__` hook, which also keeps the interpreter from caching the look-up, several times the cost of a
#: dict look-up.
fields_of: Callable[[BaseModel], dict[str, Any]] = BaseModel.__dict__["__dict__"].__get__

#: An output's fields, collected as a plain dict while a document is read, built into an `Output` at the end
#: (`_Draft.build`).
Fields = dict[str, Any]
N = TypeVar("N", int, float)


# ids and vocabularies ------------------------------------------------------------------------------------


def transcode_task_id(video_id: str) -> str:
    """The task every transcode report of a video lands on: callbacks carry no TranscodeTaskId."""
    return f"transcode:{video_id}"


def video_of_task(task_id: str) -> str | None:
    """The VideoId a `transcode:<VideoId>` task id names: what a poller lists that video's tasks by
    (ListTranscodeTask(VideoId), then GetTranscodeTask of the newest); None for other task ids."""
    prefix, _, video_id = task_id.partition(":")
    return video_id or None if prefix == "transcode" else None


@lru_cache(maxsize=256)  # a small vocabulary, read for every stream and job
def normalize_definition(word: str | None, *, query: bool) -> tuple[str | None, str | None]:
    """(tier, full definition) in the callback vocabulary; `query` words are translated first.

    A preset or narrowband-HD template appends a suffix ("HD-MP4"): the full definition keeps it, the tier
    (which goes into the output key) does not, so the same rendition keys alike whether or not it is there.
    """
    if word is None or not word.strip():
        return None, None
    base, dash, suffix = word.strip().upper().partition("-")
    if query:
        base = QUERY_DEFINITIONS.get(base, base)
    return base, f"{base}{dash}{suffix}"


def output_key(tier: str | None, container: str | None, job_id: str | None, index: int) -> str:
    """A transcode output's identity within its (per-video) task: definition tier and container.

    A re-transcode of the same tier and container replaces the earlier output, as Alibaba replaces the
    stream. Without a definition the job id (callback JobId = query TranscodeJobId) keys it.
    """
    if tier:
        return f"{tier}/{container or 'unknown'}"
    if job_id:
        return f"job:{job_id}"
    return f"stream#{index}"


def result_word(word: str | None, path: str, lenient: Lenient) -> Outcome | None:
    """A callback `Status` (success | fail) as an outcome; other spellings are read with a warning."""
    if word is None:
        return None
    text = word.strip().lower()
    if text == "success":
        return SUCCESS
    if text == "fail":
        return FAILED
    if text.startswith("succ"):
        lenient.warn(path, word, "read as success")
        return SUCCESS
    if text.startswith("fail") or text == "error":
        lenient.warn(path, word, "read as fail")
        return FAILED
    lenient.warn(path, word, "unknown status word")
    return None


def task_word(word: str | None, path: str, lenient: Lenient) -> tuple[Status | None, Outcome | None]:
    """A TaskStatus as (status, outcome), reading the docs' misspellings (CompleteAllSucces, CompeleteAllSucc)."""
    exact = TASK_STATUS.get(word) if word is not None else None
    if exact is not None:
        return exact
    if word is None or not word.strip():
        return None, None
    letters = "".join(ch for ch in word.lower() if ch.isalpha())
    known = _TASK_BY_LETTERS.get(letters)
    if known is not None:
        if known != word.strip():
            lenient.warn(path, word, f"task status read as {known!r}")
        return TASK_STATUS[known]
    if "fail" in letters and "all" in letters:
        guess = "CompleteAllFail"
    elif "partial" in letters and "succ" in letters:
        guess = "CompletePartialSucc"
    elif "all" in letters and "succ" in letters:
        guess = "CompleteAllSucc"
    elif "partial" in letters:
        guess = "Partial"
    elif "process" in letters:
        guess = "Processing"
    else:
        lenient.warn(path, word, "unknown task status")
        return None, None
    lenient.warn(path, word, f"misspelled task status read as {guess!r}")
    return TASK_STATUS[guess]


def job_word(word: str | None, path: str, lenient: Lenient) -> tuple[Status | None, Outcome | None]:
    exact = JOB_STATUS.get(word) if word is not None else None
    if exact is not None:
        return exact
    if word is None or not word.strip():
        return None, None
    known = _JOB_BY_LOWER.get(word.strip().lower())
    if known is not None:
        return JOB_STATUS[known]
    letters = word.lower()
    if "fail" in letters:
        guess = "TranscodeFail"
    elif "succ" in letters:
        guess = "TranscodeSuccess"
    elif "transcoding" in letters or "process" in letters:
        guess = "Transcoding"
    else:
        lenient.warn(path, word, "unknown job status")
        return None, None
    lenient.warn(path, word, f"job status read as {guess!r}")
    return JOB_STATUS[guess]


def outcome_of(outputs: Sequence[Fields]) -> Outcome | None:
    """success when every finished output succeeded, failed when all failed, partial otherwise; None when
    no output has a result."""
    found = None
    for output in outputs:
        outcome = output.get("outcome")
        if outcome is None:
            continue
        if found is None:
            found = outcome
        elif outcome is not found:
            return PARTIAL
    return found if found is None or found is SUCCESS or found is FAILED else PARTIAL


def container_of(fmt: str | None, url: str | None) -> str | None:
    """The container: `Format` lower-cased, else the URL's extension."""
    if fmt:
        text = fmt.strip()
        if text:
            return text.lower()
    if url:
        path = url.partition("?")[0]
        dot = path.rfind(".")
        if dot > path.rfind("/"):  # in the last segment
            ext = path[dot + 1 :].lower()
            if ext.isalnum() and len(ext) <= 5:
                return ext
    return None


def media_kind(container: str | None, *, audio: bool) -> OutputKind:
    return _AUDIO if audio else CONTAINER_KINDS.get(container, _VIDEO)


def positive(value: N | None) -> N | None:
    """A measurement, or None for the zeros Alibaba reports for outputs that were never produced."""
    return value if value is not None and value > 0 else None


def kbps_to_bps(kbps: float | None) -> int | None:
    return round(kbps * 1000) if kbps is not None and kbps > 0 else None


def error_of(code: str | None, message: str | None) -> ErrorInfo | None:
    code = code.strip() if code else None
    message = message.strip() if message else None
    return _error_info(code, message) if code or message else None


@lru_cache(maxsize=1024)
def _error_info(code: str | None, message: str | None) -> ErrorInfo:
    """One `ErrorInfo` per code and message: it is frozen, so events may share it, and a provider words its
    errors a few ways only (building one validates, which costs more than reading the rest of a stream)."""
    return ErrorInfo(code=code, message=message)


def split_ids(value: Any, path: str, lenient: Lenient) -> list[str]:
    """Ids sent as a list, a JSON list, a comma-separated string, or a list of JSON strings of lists."""
    ids: list[str] = []
    # The usual: a list of texts, which `strings_` would hand back but for empty ones.
    plain = type(value) is list and all(type(item) is str for item in value)
    for item in [item for item in value if item] if plain else lenient.strings_(value, path):
        if item.lstrip().startswith("["):
            ids.extend(lenient.strings_(item, path))
        elif "," in item:
            ids.extend(part.strip() for part in item.split(",") if part.strip())
        elif item.strip():
            ids.append(item.strip())
    return ids


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    present = [time for time in times if time is not None]
    return max(present) if present else None


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    """`values` without None, [] and {}."""
    return _add_present({}, values)


def _add_present(into: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`into` with the `values` that are not None, [] or {} added, in their order."""
    for name, value in values.items():
        if value is not None and (value or not isinstance(value, (list, dict))):
            into[name] = value
    return into


# building one event --------------------------------------------------------------------------------------


class _Draft:
    """Collects one event's fields while a document is read, then builds the `Event`."""

    __slots__ = ("ctx", "fields", "lenient")

    def __init__(self, event_type: str, ctx: NormalizeContext, lenient: Lenient) -> None:
        self.fields: dict[str, Any] = {"event_type": event_type, "outputs": [], "extra": {}}
        self.ctx = ctx
        self.lenient = lenient

    def extra(self, **values: Any) -> None:
        """Keep `values` in `extra`, but for None, [] and {}."""
        _add_present(self.fields["extra"], values)

    def finish(self, outcome: Outcome | None, when: datetime | None) -> None:
        """A terminal report: finished, with its outcome and the provider's time as the finish time."""
        fields = self.fields
        fields["status"] = FINISHED
        fields["outcome"] = outcome
        fields["finished_at"] = when

    def build(self) -> Event:
        """The event; the draft's own fields are handed over (a draft is built once). Outputs are built without
        validation (`assemble_output`): every value comes from a wire model field or a vocabulary of the field's
        own type, which validating again cost about as much as collecting them."""
        fields = self.fields
        fields["outputs"] = list(map(assemble_output, fields["outputs"]))
        return self.ctx.event(fields, _PROVIDER, DIALECT_NAME, self.lenient.warnings)


_PROVIDER = Provider.ALIYUN_VOD
#: `Session(**fields)` without the keyword handling around its validator.
_session: Callable[[dict[str, Any]], Session] = Session.__pydantic_validator__.validate_python


# entry point ---------------------------------------------------------------------------------------------


def normalize(document: Any, ctx: NormalizeContext) -> list[Event]:
    """Normalize a callback (HTTP body or MNS message), or a GetTranscodeTask / ListTranscodeTask answer."""
    if not isinstance(document, dict):
        raise Unidentifiable("an Alibaba VOD document is a JSON object", "$", type(document).__name__)
    document = m.strip_key_spaces(document)
    if ctx.api == LIST_TRANSCODE_TASK or (ctx.api is None and "TranscodeTaskList" in document):
        return list_answer(document, ctx)
    looks_like_get = "TranscodeTask" in document or "TranscodeJobInfoList" in document
    if ctx.api == GET_TRANSCODE_TASK or (ctx.api is None and "EventType" not in document and looks_like_get):
        return [get_answer(document, ctx)]
    if "EventType" in document:
        return [normalize_callback(document, ctx)]
    if "Code" in document and "RequestId" in document:
        raise Unidentifiable(
            f"an Alibaba API error answer: {document.get('Code')}: {document.get('Message') or 'no message'}",
            "$.Code",
            document.get("Code"),
        )
    raise Unidentifiable(
        "no EventType, and not a GetTranscodeTask/ListTranscodeTask answer", "$", sorted(document)[:12]
    )


def normalize_callback(document: dict[str, Any], ctx: NormalizeContext) -> Event:
    """One callback body (keys already stripped) → one event; unknown EventTypes become generic events."""
    raw_type = document.get("EventType")
    if isinstance(raw_type, bool) or not isinstance(raw_type, str | int | float) or not str(raw_type).strip():
        raise Unidentifiable("EventType is missing, empty or not text", "$.EventType", raw_type)
    event_type = str(raw_type).strip()
    lenient = Lenient()
    reader = CALLBACK_READERS.get(event_type)
    if reader is None:
        return _generic(event_type, document, ctx, lenient)
    return reader(event_type, document, ctx, lenient)


def _read(model: type[W], document: dict[str, Any], lenient: Lenient, path: str = "$") -> W:
    """`validate_leniently`; the model the fast path validated is handed back at once (its isinstance check of
    a model class is an ABC's, several times the look in the class's bases here)."""
    data: Any = document  # or the fast path's `Prevalidated`, which readers take for a document
    if type(data) is Prevalidated and model in type(data.model).__mro__:
        return data.model  # type: ignore[return-value]
    return validate_leniently(model, document, lenient, path)


def _common(draft: _Draft, body: m.Callback, default_kind: TaskKind) -> None:
    """What every callback shares: provider status, kind, time, and the `Extend` pass-through."""
    fields = draft.fields
    fields["task_kind"] = default_kind
    fields["provider_status"] = body.Status
    fields["updated_at"] = body.EventTime
    extend = body.Extend
    if extend is not None:
        text, parsed = _extend(extend, "$.Extend", draft.lenient)
        if text is not None:
            fields["session"] = _session({"context": text})
        if parsed is not None:
            draft.extra(extend=parsed)


def _extend(value: Any, path: str, lenient: Lenient) -> tuple[str | None, Any]:
    """`Extend` as (text, parsed JSON): a string is kept and parsed when it holds JSON; an object is kept
    and rendered as compact JSON text for `session.context`."""
    if isinstance(value, str):
        text = value if value.strip() else None
        if text and text.lstrip()[:1] in ("{", "["):
            return text, lenient.json_(text, path)
        return text, None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")), value
    return lenient.str_(value, path), None


def _media_outcome(word: str | None, error: ErrorInfo | None, path: str, lenient: Lenient) -> Outcome | None:
    """The outcome of a one-shot media event: its Status word; when that is missing, an error means fail."""
    outcome = RESULT_WORDS.get(word) or result_word(word, path, lenient)
    if outcome is None and word is None:
        outcome = FAILED if error is not None else SUCCESS
        lenient.warn(path, None, f"no Status; read as {outcome.value}")
    return outcome


def _attach_media(draft: _Draft, media_id: str | None, field: str) -> None:
    draft.fields["media_id"] = media_id
    if not media_id:
        draft.lenient.warn(f"$.{field}", None, "missing: the event attaches to no media or task")


# transcode callbacks -------------------------------------------------------------------------------------


def _stream_output(
    stream_model: m.StreamFields, index: int, path: str, lenient: Lenient
) -> tuple[Fields, dict[str, Any]]:
    stream = fields_of(stream_model)
    word = stream["Status"]
    outcome = RESULT_WORDS.get(word) or result_word(word, f"{path}.Status", lenient)
    tier, definition = normalize_definition(stream["Definition"], query=False)
    url = stream["FileUrl"]
    container = container_of(stream["Format"], url)
    is_audio = stream["IsAudio"]
    output = {
        "key": output_key(tier, container, stream["JobId"], index),
        "kind": media_kind(container, audio=bool(is_audio) or tier in AUDIO_DEFINITIONS),
        "definition": definition,
        "url": url or None,
        "container": container,
        "size_bytes": positive(stream["Size"]),
        "bitrate_bps": kbps_to_bps(stream["Bitrate"]),
        "width": positive(stream["Width"]),
        "height": positive(stream["Height"]),
        "duration_s": positive(stream["Duration"]),
        "fps": positive(stream["Fps"]),
        "status": FINISHED if outcome is not None else None,
        "outcome": outcome,
        "error": error_of(stream["ErrorCode"], stream["ErrorMessage"]) if outcome is FAILED else None,
    }
    watermark = stream["WatermarkId"]
    watermarks = None if watermark is None else split_ids(watermark, f"{path}.WatermarkId", lenient)
    job = _compact(
        {
            "job_id": stream["JobId"],
            "encrypted": stream["Encrypt"],
            "encrypt_type": stream["EncryptType"],
            "codec": stream["Codec"],
            "watermark_ids": watermarks or None,
            "is_audio": is_audio,
        }
    )
    return output, job


def _unique_keys(outputs: list[Fields], jobs: list[dict[str, Any]]) -> tuple[list[Fields], dict[str, Any]]:
    """Make output keys unique within one event (two streams of one tier and container) and index the job
    details by the final key."""
    seen: set[str] = set()
    unique: list[Fields] = []
    by_key: dict[str, Any] = {}
    for position, job in enumerate(jobs):
        output = outputs[position]
        key = output["key"]
        if key in seen:
            key = f"{key}#{job.get('job_id') or position}"
            output = {**output, "key": key}
        seen.add(key)
        unique.append(output)
        if job:
            by_key[key] = job
    return unique, by_key


def _attach_transcode(draft: _Draft, video_id: str | None) -> None:
    fields = draft.fields
    fields["media_id"] = video_id
    fields["task_id"] = transcode_task_id(video_id) if video_id else None
    if not video_id:
        draft.lenient.warn("$.VideoId", None, "missing: a transcode report without a video attaches to no task")


def _transcode_complete(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    body = _read(m.TranscodeComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.TRANSCODE)
    _attach_transcode(draft, body.VideoId)
    streams: list[m.StreamInfo] = []
    found: list[Fields] = []
    details: list[dict[str, Any]] = []
    started: datetime | None = None
    for index, stream in enumerate(body.StreamInfos or ()):
        if stream is not None:
            output, detail = _stream_output(stream, index, f"$.StreamInfos[{index}]", lenient)
            streams.append(stream)
            found.append(output)
            details.append(detail)
            start = stream.StartTime
            if start is not None and (started is None or start < started):
                started = start
    outputs, jobs = _unique_keys(found, details)
    word = body.Status
    word_outcome = RESULT_WORDS.get(word) or result_word(word, "$.Status", lenient)
    derived = outcome_of(outputs)
    outcome = derived if derived is not None else word_outcome
    # The doc's rule: Status is success when at least one stream succeeded.
    if derived is not None and word_outcome is not None and (word_outcome is SUCCESS) != (derived is not FAILED):
        lenient.warn("$.Status", word, f"disagrees with the streams, outcome taken from them: {derived.value}")
    if outcome is None:
        lenient.warn("$.Status", word, "no Status and no stream results: outcome unknown")
    draft.finish(outcome, body.EventTime or _latest(s.FinishTime for s in streams))
    fields = draft.fields
    fields["outputs"] = outputs
    fields["started_at"] = started
    if outcome is FAILED or outcome is PARTIAL:
        fields["error"] = next((o["error"] for o in outputs if o.get("error") is not None), None)
    draft.extra(jobs=jobs)
    return draft.build()


def _stream_transcode_complete(
    event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> Event:
    """One definition and format done: the output finishes, the task stays processing (a low definition
    finishing first must not finish the video: TranscodeComplete does that)."""
    body = _read(m.StreamTranscodeComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.TRANSCODE)
    _attach_transcode(draft, body.VideoId)
    output, job = _stream_output(body, 0, "$", lenient)
    fields = draft.fields
    fields["status"] = PROCESSING
    fields["outputs"] = [output]
    fields["started_at"] = body.StartTime
    draft.extra(jobs={output["key"]: job} if job else None)
    return draft.build()


# other task callbacks ------------------------------------------------------------------------------------


def _snapshot_complete(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    body = _read(m.SnapshotComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.SNAPSHOT)
    infos = [info for info in body.SnapshotInfos or [] if info is not None]
    job_ids = [info.JobId for info in infos if info.JobId]
    if body.VideoId:
        draft.fields["task_id"] = f"snapshot:{body.VideoId}"
        draft.fields["media_id"] = body.VideoId
    elif job_ids:
        draft.fields["task_id"] = f"snapshot-job:{job_ids[0]}"
        lenient.warn("$.VideoId", None, "missing: attached to the first snapshot job instead of the video")
    else:
        lenient.warn("$.VideoId", None, "missing, and no snapshot job id: the event attaches to no task")
    outputs: list[Fields] = []
    seen: set[str] = set()
    for index, info in enumerate(body.SnapshotInfos or []):
        if info is None:
            continue
        path = f"$.SnapshotInfos[{index}]"
        key = info.SnapshotType or f"snapshot#{index}"
        if key in seen:
            key = f"{key}#{info.JobId or index}"
        seen.add(key)
        outcome = result_word(info.Status, f"{path}.Status", lenient)
        outputs.append(
            {
                "key": key,
                "kind": SNAPSHOT_KINDS.get(info.SnapshotType or "", OutputKind.IMAGES),
                "urls": _snapshot_urls(info, path, lenient),
                "container": container_of(None, info.SnapshotRegular or info.SnapshotFormat),
                "status": FINISHED if outcome is not None else None,
                "outcome": outcome,
            }
        )
    if body.CoverUrl:
        outputs.append(
            {
                "key": "cover",
                "kind": OutputKind.IMAGE,
                "url": body.CoverUrl,
                "container": container_of(None, body.CoverUrl),
                "status": FINISHED,
                "outcome": SUCCESS,
            }
        )
    error = error_of(body.ErrorCode, body.ErrorMessage)
    derived = outcome_of([o for o in outputs if o["key"] != "cover"])
    outcome = derived or _media_outcome(body.Status, error, "$.Status", lenient)
    draft.finish(outcome, body.EventTime)
    draft.fields["outputs"] = outputs
    draft.fields["error"] = error
    draft.extra(sub_type=body.SubType, job_ids=job_ids)
    return draft.build()


def _snapshot_urls(info: m.SnapshotInfo, path: str, lenient: Lenient) -> list[str] | None:
    """`SnapshotRegular` with "{SnapshotCount}" replaced by 00001, 00002, … up to SnapshotCount."""
    rule = info.SnapshotRegular
    if not rule:
        return None
    if "{SnapshotCount}" not in rule:
        return [rule]
    count = info.SnapshotCount or 0
    if count > MAX_SNAPSHOT_URLS:
        lenient.warn(f"{path}.SnapshotCount", count, f"more than {MAX_SNAPSHOT_URLS} snapshots; URLs not expanded")
        return None
    return [rule.replace("{SnapshotCount}", f"{index:05d}") for index in range(1, count + 1)] or None


def _dynamic_image_complete(
    event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> Event:
    body = _read(m.DynamicImageComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.ANIMATED_GRAPHICS)
    info = body.DynamicImageJobInfo
    job_id = body.JobId or (info.JobId if info else None)
    draft.fields["media_id"] = body.VideoId
    draft.fields["task_id"] = f"dynamicimage:{job_id}" if job_id else None
    if not job_id:
        lenient.warn("$.JobId", None, "missing: the animated image attaches to no task")
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    outputs = []
    if info is not None:
        item_outcome = result_word(info.Status, "$.DynamicImageJobInfo.Status", lenient) or outcome
        outputs.append(
            {
                "key": "animation",
                "kind": OutputKind.ANIMATION,
                "url": info.FileURL or None,
                "container": container_of(None, info.FileURL),
                "size_bytes": positive(info.FileSize),
                "width": positive(info.Width),
                "height": positive(info.Height),
                "fps": positive(info.Fps),
                "status": FINISHED,
                "outcome": item_outcome,
            }
        )
    draft.finish(outcome, body.EventTime)
    draft.fields["outputs"] = outputs
    draft.fields["error"] = error if outcome is FAILED else None
    return draft.build()


def _upload_by_url_complete(
    event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> Event:
    """A URL pull: the upload job's JobId is its task (a failed pull has no VideoId)."""
    body = _read(m.UploadByURLComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.PULL)
    draft.fields["media_id"] = body.VideoId
    draft.fields["task_id"] = f"urlupload:{body.JobId}" if body.JobId else None
    if not body.JobId and not body.VideoId:
        lenient.warn("$.JobId", None, "missing, and no VideoId: the event attaches to no task")
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    outputs = []
    if outcome is SUCCESS and (body.Size or body.StreamFileURL):
        outputs.append(
            {
                "key": "mezzanine",
                "kind": OutputKind.FILE,
                "url": body.StreamFileURL or None,
                "container": container_of(None, body.StreamFileURL or body.SourceURL),
                "size_bytes": positive(body.Size),
                "status": FINISHED,
                "outcome": SUCCESS,
            }
        )
    draft.finish(outcome, body.EventTime)
    draft.fields["outputs"] = outputs
    draft.fields["error"] = error if outcome is FAILED else None
    draft.extra(source_url=body.SourceURL, file_type=body.FileType)
    return draft.build()


def _produce_media_complete(
    event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> Event:
    """An editing project produced a new media: the project is the task, the new media its media."""
    body = _read(m.ProduceMediaComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.EDIT)
    draft.fields["media_id"] = body.MediaId
    draft.fields["task_id"] = f"produce:{body.ProjectId}" if body.ProjectId else None
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    draft.finish(outcome, body.EventTime)
    draft.fields["error"] = error if outcome is FAILED else None
    draft.extra(project_id=body.ProjectId)
    return draft.build()


# media events --------------------------------------------------------------------------------------------


def _file_upload_complete(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    """Video, image and attached-media uploads: media events (an upload has no task, and never fails: VOD
    cannot tell a paused resumable upload from a failed one, so a missing Status means success)."""
    body: m.FileUploadComplete | m.FileUpload
    app_id: str | None = None
    if event_type == "FileUploadComplete":
        body = _read(m.FileUploadComplete, document, lenient)
        media_id, id_field, kind = body.VideoId, "VideoId", OutputKind.FILE
    else:
        body = _read(m.FileUpload, document, lenient)
        app_id = body.AppId
        if event_type == "ImageUploadComplete":
            media_id, id_field, kind = body.ImageId, "ImageId", OutputKind.IMAGE
        else:
            media_id, id_field, kind = body.AttachedMediaId, "AttachedMediaId", OutputKind.FILE
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.UPLOAD)
    _attach_media(draft, media_id, id_field)
    word = body.Status
    outcome = SUCCESS if word is None else RESULT_WORDS.get(word) or result_word(word, "$.Status", lenient)
    url = body.FileUrl or body.FileURL or None
    outputs = []
    if url or body.Size:
        outputs.append(
            {
                "key": "mezzanine",
                "kind": kind,
                "url": url,
                "container": container_of(None, url),
                "size_bytes": positive(body.Size),
                "status": FINISHED,
                "outcome": outcome,
            }
        )
    draft.finish(outcome, body.EventTime)
    draft.fields["outputs"] = outputs
    draft.fields["error"] = error_of(body.ErrorCode, body.ErrorMessage) if outcome is FAILED else None
    draft.extra(app_id=app_id)
    return draft.build()


def _video_analysis_complete(
    event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> Event:
    """The mezzanine probe: a media event whose output is the source file's metadata."""
    body = _read(m.VideoAnalysisComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.ANALYSIS)
    _attach_media(draft, body.VideoId, "VideoId")
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    outputs = []
    if outcome is SUCCESS:
        outputs.append(
            {
                "key": "mezzanine-metadata",
                "kind": OutputKind.VIDEO if body.Width or body.Height else OutputKind.AUDIO,
                "size_bytes": positive(body.Size),
                "bitrate_bps": kbps_to_bps(body.Bitrate),
                "width": positive(body.Width),
                "height": positive(body.Height),
                "duration_s": positive(body.Duration),
                "fps": positive(body.Fps),
                "status": FINISHED,
                "outcome": SUCCESS,
            }
        )
    draft.finish(outcome, body.EventTime)
    draft.fields["outputs"] = outputs
    draft.fields["error"] = error if outcome is FAILED else None
    return draft.build()


def _ai_job_complete(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    """AI audit, DNA and tagging: media events; the result set is kept verbatim in extra.data."""
    body = _read(m.AIJobComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.REVIEW if event_type == "AIMediaAuditComplete" else TaskKind.ANALYSIS)
    _attach_media(draft, body.MediaId or body.VideoId, "MediaId")
    code = body.Code if body.Code not in (None, "", "0") else None
    error = error_of(code, body.Message if code else None) or error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    draft.finish(outcome, body.EventTime)
    draft.fields["error"] = error if outcome is FAILED else None
    data: Any = body.Data
    if isinstance(data, str):
        parsed = lenient.json_(data, "$.Data")
        data = parsed if parsed is not None else data
    draft.extra(job_id=body.JobId, data=data)
    return draft.build()


def _create_audit_complete(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    """A manual review result: `AuditStatus` (Normal | Blocked) is the verdict, `Status` whether it was made."""
    body = _read(m.CreateAuditComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.REVIEW)
    _attach_media(draft, body.MediaId or body.VideoId, "MediaId")
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    draft.finish(outcome, body.EventTime)
    draft.fields["created_at"] = body.CreationTime
    draft.fields["error"] = error if outcome is FAILED else None
    draft.extra(audit_status=body.AuditStatus, auditor=body.Auditor, reason=body.Reason, sub_type=body.SubType)
    return draft.build()


def _delete_media_complete(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    body = _read(m.DeleteMediaComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.DELETE)
    _attach_media(draft, body.MediaId or body.VideoId, "MediaId")
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    draft.finish(outcome, body.EventTime)
    draft.fields["error"] = error if outcome is FAILED else None
    draft.extra(
        media_type=body.MediaType,
        delete_type=body.DeleteType,
        job_ids=split_ids(body.JobIds, "$.JobIds", lenient) if body.JobIds is not None else None,
    )
    return draft.build()


def _media_base_change_complete(
    event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> Event:
    """Title, description, cover, category or tags changed: `MediaContent` is kept with each value parsed."""
    body = _read(m.MediaBaseChangeComplete, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.OTHER)
    _attach_media(draft, body.MediaId or body.VideoId, "MediaId")
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    draft.finish(outcome, body.EventTime)
    draft.fields["error"] = error if outcome is FAILED else None
    content: dict[str, Any] = {}
    raw = body.MediaContent
    if raw is not None:
        for name, value in lenient.dict_(raw, "$.MediaContent").items():
            parsed = lenient.json_(value, f"$.MediaContent.{name}") if isinstance(value, str) else value
            content[name] = parsed if parsed is not None else value
    draft.extra(media_type=body.MediaType, operate_mode=body.OperateMode, media_content=content)
    return draft.build()


def _live_record(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    """Live recordings turned into a video: ComposeStart (success = started) and AddLiveRecordVideoComplete."""
    body = _read(m.LiveRecord, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.COMPOSE)
    _attach_media(draft, body.VideoId, "VideoId")
    error = error_of(body.ErrorCode, body.ErrorMessage)
    outcome = _media_outcome(body.Status, error, "$.Status", lenient)
    if event_type == "LiveRecordVideoComposeStart" and outcome is SUCCESS:
        draft.fields["status"] = PROCESSING
        draft.fields["started_at"] = body.EventTime
    else:
        draft.finish(outcome, body.EventTime)
        draft.fields["error"] = error if outcome is FAILED else None
    draft.extra(
        stream_name=body.StreamName,
        domain_name=body.DomainName,
        app_name=body.AppName,
        record_start_time=document.get("RecordStartTime"),
        record_end_time=document.get("RecordEndTime"),
    )
    return draft.build()


def _generic(event_type: str, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient) -> Event:
    """An EventType this version does not know: kept whole in extra.body, attached to its media, changing
    no status (we cannot know what its Status means)."""
    body = _read(m.Callback, document, lenient)
    draft = _Draft(event_type, ctx, lenient)
    _common(draft, body, TaskKind.OTHER)
    draft.fields["media_id"] = body.VideoId or body.MediaId or body.ImageId or body.AttachedMediaId
    draft.extra(body=document)
    lenient.warn("$.EventType", event_type, "unknown event type, kept as a generic event")
    return draft.build()


Reader = Callable[[str, dict[str, Any], NormalizeContext, Lenient], Event]

CALLBACK_READERS: dict[str, Reader] = {
    "TranscodeComplete": _transcode_complete,
    "StreamTranscodeComplete": _stream_transcode_complete,
    "SnapshotComplete": _snapshot_complete,
    "DynamicImageComplete": _dynamic_image_complete,
    "UploadByURLComplete": _upload_by_url_complete,
    "ProduceMediaComplete": _produce_media_complete,
    "FileUploadComplete": _file_upload_complete,
    "ImageUploadComplete": _file_upload_complete,
    "AttachedMediaUploadComplete": _file_upload_complete,
    "VideoAnalysisComplete": _video_analysis_complete,
    "AIMediaAuditComplete": _ai_job_complete,
    "AIMediaDNAComplete": _ai_job_complete,
    "AIVideoTagComplete": _ai_job_complete,
    "CreateAuditComplete": _create_audit_complete,
    "DeleteMediaComplete": _delete_media_complete,
    "MediaBaseChangeComplete": _media_base_change_complete,
    "AddLiveRecordVideoComplete": _live_record,
    "LiveRecordVideoComposeStart": _live_record,
}
#: The model each reader validates a callback as (the fast path validates the bytes into it).
CALLBACK_MODELS: dict[str, type[m.Wire]] = {
    "TranscodeComplete": m.TranscodeComplete,
    "StreamTranscodeComplete": m.StreamTranscodeComplete,
    "SnapshotComplete": m.SnapshotComplete,
    "DynamicImageComplete": m.DynamicImageComplete,
    "UploadByURLComplete": m.UploadByURLComplete,
    "ProduceMediaComplete": m.ProduceMediaComplete,
    "FileUploadComplete": m.FileUploadComplete,
    "ImageUploadComplete": m.FileUpload,
    "AttachedMediaUploadComplete": m.FileUpload,
    "VideoAnalysisComplete": m.VideoAnalysisComplete,
    "AIMediaAuditComplete": m.AIJobComplete,
    "AIMediaDNAComplete": m.AIJobComplete,
    "AIVideoTagComplete": m.AIJobComplete,
    "CreateAuditComplete": m.CreateAuditComplete,
    "DeleteMediaComplete": m.DeleteMediaComplete,
    "MediaBaseChangeComplete": m.MediaBaseChangeComplete,
    "AddLiveRecordVideoComplete": m.LiveRecord,
    "LiveRecordVideoComposeStart": m.LiveRecord,
}
#: The keys whose raw values a reader reads besides its model (the fast path keeps them as sent).
CALLBACK_RAW_KEYS: dict[str, tuple[str, ...]] = {
    "AddLiveRecordVideoComplete": ("RecordStartTime", "RecordEndTime"),
    "LiveRecordVideoComposeStart": ("RecordStartTime", "RecordEndTime"),
}


# query answers -------------------------------------------------------------------------------------------


def _poll_ctx(ctx: NormalizeContext) -> NormalizeContext:
    """The context of a query answer: a poll, unless it says how else it was fetched."""
    if ctx.origin is not Origin.CALLBACK:
        return ctx
    return NormalizeContext(
        source=ctx.source,
        origin=Origin.POLL,
        received_at=ctx.received_at,
        capture_id=ctx.capture_id,
        task_id_hint=ctx.task_id_hint,
        api=ctx.api,
    )


def _check_error(answer: m.ErrorAnswer, document: dict[str, Any]) -> None:
    if answer.Code:
        message = answer.Message or "no message"
        raise Unidentifiable(f"the query answer is an error: {answer.Code}: {message}", "$.Code", document.get("Code"))


def get_answer(document: dict[str, Any], ctx: NormalizeContext) -> Event:
    """GetTranscodeTask: the task with its jobs as outputs; by JobIds, the bare job list (task from the hint)."""
    lenient = Lenient()
    return get_event(_read(m.GetTranscodeTaskAnswer, document, lenient), document, ctx, lenient)


def get_event(
    answer: m.GetTranscodeTaskAnswer, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> Event:
    """The event of a GetTranscodeTask `answer` read from `document`, the raw answer (keys stripped), where a
    job's mangled JSON texts are looked for (`_job_output`). The fast path hands it {} when the body cannot
    hold one."""
    _check_error(answer, document)
    if answer.TranscodeTask is not None:
        raw_task = _raw_dict(document.get("TranscodeTask"))
        return _task_event(
            GET_TRANSCODE_TASK,
            answer.TranscodeTask,
            raw_task,
            "$.TranscodeTask",
            _poll_ctx(ctx),
            lenient,
        )
    if answer.TranscodeJobInfoList is not None:
        bare = m.TranscodeTask(TranscodeJobInfoList=answer.TranscodeJobInfoList)
        return _task_event(GET_TRANSCODE_TASK, bare, document, "$", _poll_ctx(ctx), lenient)
    raise Unidentifiable(
        "a GetTranscodeTask answer without TranscodeTask or TranscodeJobInfoList", "$", sorted(document)[:12]
    )


def list_answer(document: dict[str, Any], ctx: NormalizeContext) -> list[Event]:
    """ListTranscodeTask: one event per task (no jobs), all on the video's transcode task."""
    lenient = Lenient()
    return list_events(_read(m.ListTranscodeTaskAnswer, document, lenient), document, ctx, lenient)


def list_events(
    answer: m.ListTranscodeTaskAnswer, document: dict[str, Any], ctx: NormalizeContext, lenient: Lenient
) -> list[Event]:
    """The events of a ListTranscodeTask `answer` read from `document` (as `get_event`); each task's event
    starts with the warnings `lenient` has."""
    _check_error(answer, document)
    if answer.TranscodeTaskList is None:
        raise Unidentifiable("a ListTranscodeTask answer without TranscodeTaskList", "$", sorted(document)[:12])
    raw_list = document.get("TranscodeTaskList")
    poll_ctx = _poll_ctx(ctx)
    events = []
    for index, task in enumerate(answer.TranscodeTaskList):
        if task is None:
            continue
        own = Lenient()
        own.warnings = list(lenient.warnings)
        raw = _raw_at(raw_list, index)
        events.append(
            _task_event(
                LIST_TRANSCODE_TASK,
                task,
                raw,
                f"$.TranscodeTaskList[{index}]",
                poll_ctx,
                own,
            )
        )
    return events


def _task_event(
    event_type: str,
    task: m.TranscodeTask,
    raw_task: dict[str, Any],
    path: str,
    ctx: NormalizeContext,
    lenient: Lenient,
) -> Event:
    draft = _Draft(event_type, ctx, lenient)
    video_id = task.VideoId
    if video_id:
        task_id: str | None = transcode_task_id(video_id)
    elif ctx.task_id_hint:
        task_id = ctx.task_id_hint
    elif task.TranscodeTaskId:
        task_id = f"transcode-task:{task.TranscodeTaskId}"
        lenient.warn(f"{path}.VideoId", None, "missing: the task cannot meet the video's callbacks")
    else:
        task_id = None
        lenient.warn(f"{path}.VideoId", None, "missing, and no task id was given with the query")
    word = task.TaskStatus
    fields = draft.fields
    fields["task_id"] = task_id
    fields["media_id"] = video_id
    fields["task_kind"] = _TRANSCODE
    fields["provider_status"] = word
    status, outcome = TASK_STATUS.get(word) or task_word(word, f"{path}.TaskStatus", lenient)  # type: ignore[arg-type]

    raw_jobs = raw_task.get("TranscodeJobInfoList")
    found: list[Fields] = []
    details: list[dict[str, Any]] = []
    job_done: datetime | None = None
    for index, job in enumerate(task.TranscodeJobInfoList or ()):
        if job is None:
            continue
        raw_job = _raw_at(raw_jobs, index) if raw_jobs else _NO_RAW
        output, detail = _job_output(job, index, f"{path}.TranscodeJobInfoList[{index}]", raw_job, lenient)
        found.append(output)
        details.append(detail)
        done = job.CompleteTime or job.FinishTime
        if done is not None and (job_done is None or done > job_done):
            job_done = done
    outputs, jobs = _unique_keys(found, details)
    status, outcome = _reconcile(status, outcome, outputs, word, path, lenient)
    complete = task.CompleteTime
    fields["status"] = status
    fields["outcome"] = outcome
    fields["outputs"] = outputs
    fields["created_at"] = task.CreationTime
    fields["updated_at"] = job_done or (complete if status is FINISHED else None)
    # A task cannot finish before its jobs (seed 003's task CompleteTime is a month before them).
    fields["finished_at"] = _latest((complete, job_done)) if status is FINISHED else None
    if outcome is FAILED or outcome is PARTIAL:
        fields["error"] = next((o["error"] for o in outputs if o.get("error") is not None), None)
    trigger = task.Trigger
    draft.extra(
        transcode_task_id=task.TranscodeTaskId,
        trigger=trigger.strip() if trigger else None,
        template_group_id=task.TranscodeTemplateGroupId,
        jobs=jobs,
    )
    return draft.build()


_TRANSCODE = TaskKind.TRANSCODE
#: The raw object of a job the fast path read without one (`_job_output` looks for mangled texts in it).
_NO_RAW: dict[str, Any] = {}


def _raw_at(raw_list: Any, index: int) -> dict[str, Any]:
    return _raw_dict(raw_list[index] if isinstance(raw_list, list) and index < len(raw_list) else None)


def _raw_dict(value: Any) -> dict[str, Any]:
    """A raw nested object of the document, keys stripped like the models strip them; {} when not one."""
    return m.strip_key_spaces(value) if isinstance(value, dict) else {}


def _reconcile(
    status: Status | None,
    outcome: Outcome | None,
    outputs: Sequence[Fields],
    word: str | None,
    path: str,
    lenient: Lenient,
) -> tuple[Status | None, Outcome | None]:
    """The task word against its jobs' results: when they disagree, the results decide (seed 003 reports
    CompleteAllSucc beside a failed job). `path` is the task's."""
    if not outputs:
        return status, outcome
    waiting = 0
    for output in outputs:
        if output.get("status") is not FINISHED:
            waiting += 1
    derived = outcome_of(outputs) if not waiting else None
    if status is FINISHED:
        if waiting:
            lenient.warn(
                f"{path}.TaskStatus", word, f"says complete but {waiting} of {len(outputs)} jobs are not finished"
            )
        elif derived is not None and derived is not outcome:
            lenient.warn(
                f"{path}.TaskStatus", word, f"disagrees with the job results, outcome taken from them: {derived.value}"
            )
            outcome = derived
    elif status is None and not waiting and derived is not None:
        status, outcome = FINISHED, derived
    elif status is None:
        status = PROCESSING
    return status, outcome


def _job_output(
    job_model: m.TranscodeJobInfo, index: int, path: str, raw_job: dict[str, Any], lenient: Lenient
) -> tuple[Fields, dict[str, Any]]:
    job = fields_of(job_model)
    word = job["TranscodeJobStatus"]
    status, outcome = JOB_STATUS.get(word) or job_word(word, f"{path}.TranscodeJobStatus", lenient)
    out = fields_of(job["OutputFile"] or _NO_OUTPUT_FILE)
    if raw_job:
        _warn_repaired_texts(raw_job, path, lenient)
    tier, definition = normalize_definition(job["Definition"], query=True)
    file_url = out["OutputFileUrl"]
    url = file_url or None
    if url and "{" in url:  # a failed job's URL template ("…-{DestMd5}-od-….mp4"): no file is there
        url = None
    container = container_of(out["Format"], url or file_url)
    streams: list[Stream] = []
    for video in out["VideoStreamList"] or ():
        if video is not None:
            streams.append(_video_stream(video))
    videos = len(streams)
    for audio in out["AudioStreamList"] or ():
        if audio is not None:
            streams.append(_audio_stream(audio))
    audio_only = tier in AUDIO_DEFINITIONS or (len(streams) > videos and not videos)
    job_id = job["TranscodeJobId"]
    output = {
        "key": output_key(tier, container, job_id, index),
        "kind": media_kind(container, audio=audio_only),
        "definition": definition,
        "url": url,
        "container": container,
        "size_bytes": positive(out["Filesize"]),
        "bitrate_bps": kbps_to_bps(out["Bitrate"]),
        "width": positive(out["Width"]),
        "height": positive(out["Height"]),
        "duration_s": positive(out["Duration"]),
        "fps": positive(out["Fps"]),
        "streams": streams or None,
        "status": status,
        "outcome": outcome,
        "error": error_of(job["ErrorCode"], job["ErrorMessage"]) if outcome is FAILED else None,
    }
    encryption = out["Encryption"] or {}
    watermarks = out["WatermarkIdList"]
    details = _compact(
        {
            "job_id": job_id,
            "template_id": job["TranscodeTemplateId"],
            "progress": job["TranscodeProgress"],
            "priority": job["Priority"],
            "encrypt_type": encryption.get("EncryptType") if isinstance(encryption, dict) else None,
            "watermark_ids": split_ids(watermarks, f"{path}.OutputFile.WatermarkIdList", lenient)
            if watermarks is not None
            else None,
            "input_url": job["InputFileUrl"],
        }
    )
    return output, details


#: What a job without an `OutputFile` is read as.
_NO_OUTPUT_FILE = m.OutputFile()


def _warn_repaired_texts(raw_job: dict[str, Any], path: str, lenient: Lenient) -> None:
    """A warning for each of a job's JSON texts sent mangled the 2021 doc's way (`models.MANGLED_JSON`), which
    its model repaired."""
    raw_out = _raw_dict(raw_job.get("OutputFile"))
    for name in ("VideoStreamList", "AudioStreamList", "Encryption", "SubtitleStreamList"):
        value = raw_out.get(name)
        # The pattern ends in an escaped quote: a text without one is not looked at.
        if isinstance(value, str) and '\\"' in value and m.MANGLED_JSON.match(value):
            lenient.warn(f"{path}.OutputFile.{name}", value, "malformed JSON text repaired")


def _video_stream(stream: m.VideoStream) -> Stream:
    values = fields_of(stream)
    fps = values["AvgFPS"]
    return assemble_stream(
        {
            "type": "video",
            "codec": values["CodecName"],
            "bitrate_bps": kbps_to_bps(values["Bitrate"]),
            "width": positive(values["Width"]),
            "height": positive(values["Height"]),
            "fps": positive(fps if fps is not None else values["Fps"]),
        }
    )


def _audio_stream(stream: m.AudioStream) -> Stream:
    values = fields_of(stream)
    return assemble_stream(
        {
            "type": "audio",
            "codec": values["CodecName"],
            "bitrate_bps": kbps_to_bps(values["Bitrate"]),
            "sample_rate_hz": positive(values["Samplerate"]),
        }
    )

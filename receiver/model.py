"""The one normalized model every dialect produces: `Event`, and the merged `Task` state.

Field meanings are the same for every provider; each dialect module documents how its own fields map here.
An `Event` is immutable once built: its `event_id` is a hash of its normalized content, so the same callback
received twice (or replayed) gets the same id, while `source`, `origin`, `received_at`, `capture_id` and
`warnings` describe one receipt and are left out of the hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import SchemaSerializer, core_schema

from receiver._schema import edited

SCHEMA_VERSION = 1


class Provider(StrEnum):
    TENCENT_VOD = "tencent-vod"
    TENCENT_MPS = "tencent-mps"
    ALIYUN_VOD = "aliyun-vod"


class Origin(StrEnum):
    """How the event reached us: pushed by the provider, polled, pulled from a reliable queue, or replayed."""

    CALLBACK = "callback"
    POLL = "poll"
    PULL = "pull"
    REPLAY = "replay"


class Status(StrEnum):
    """Where a task is in its life. Ordered: a task only ever moves to a higher rank."""

    WAITING = "waiting"
    PROCESSING = "processing"
    FINISHED = "finished"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]


_STATUS_RANK = {Status.WAITING: 0, Status.PROCESSING: 1, Status.FINISHED: 2}


class Outcome(StrEnum):
    """How a finished task (or one output) ended; null while it is not finished."""

    SUCCESS = "success"
    FAILED = "failed"
    PARTIAL = "partial"
    ABORTED = "aborted"


class TaskKind(StrEnum):
    PROCEDURE = "procedure"
    WORKFLOW = "workflow"
    TRANSCODE = "transcode"
    CLIP = "clip"
    CONCAT = "concat"
    SNAPSHOT = "snapshot"
    SPRITE = "sprite"
    ANIMATED_GRAPHICS = "animated_graphics"
    EDIT = "edit"
    COMPOSE = "compose"
    SPLIT = "split"
    UPLOAD = "upload"
    PULL = "pull"
    DELETE = "delete"
    REVIEW = "review"
    ANALYSIS = "analysis"
    SCHEDULE = "schedule"
    BATCH = "batch"
    PUBLISH = "publish"
    RESTORE = "restore"
    REBUILD = "rebuild"
    WATERMARK = "watermark"
    OTHER = "other"


class OutputKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    IMAGES = "images"
    SPRITE = "sprite"
    ANIMATION = "animation"
    STREAMING = "streaming"
    FILE = "file"
    OTHER = "other"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorInfo(_Frozen):
    code: str | None = None
    message: str | None = None


class Storage(_Frozen):
    """Where an output lives when the provider names a bucket and path rather than a URL."""

    type: str | None = None
    bucket: str | None = None
    region: str | None = None
    path: str | None = None
    #: Every file of a multi-file output (MPS snapshots, sprite images), when there is more than `path`.
    paths: list[str] | None = None


class Stream(_Frozen):
    type: str  # "video" | "audio"
    codec: str | None = None
    bitrate_bps: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate_hz: int | None = None


class Output(_Frozen):
    """One result of a task: a rendition, a set of snapshots, a sprite sheet, a new file.

    `key` is the output's identity within its task, defined per dialect (legacy VOD has no sub-task ids:
    task type, definition and position), so that later reports of the same output replace earlier ones.
    """

    key: str
    kind: OutputKind = OutputKind.OTHER
    definition: str | None = None
    url: str | None = None
    urls: list[str] | None = None
    storage: Storage | None = None
    container: str | None = None
    size_bytes: int | None = None
    bitrate_bps: int | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    md5: str | None = None
    streams: list[Stream] | None = None
    status: Status | None = None
    outcome: Outcome | None = None
    error: ErrorInfo | None = None


class Session(_Frozen):
    id: str | None = None
    context: str | None = None


#: Fields describing one receipt of an event rather than its content; left out of `event_id`.
RECEIPT_FIELDS = frozenset({"event_id", "source", "origin", "received_at", "capture_id", "warnings"})


class Event(_Frozen):
    """One normalized provider event. Build it with `Event.build(...)`, which computes `event_id`."""

    event_id: str
    provider: Provider
    dialect: str
    source: str
    origin: Origin
    event_type: str
    task_id: str | None = None
    task_kind: TaskKind | None = None
    media_id: str | None = None
    status: Status | None = None
    outcome: Outcome | None = None
    provider_status: str | None = None
    error: ErrorInfo | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: list[Output] = Field(default_factory=list)
    session: Session | None = None
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Provider data kept verbatim that has no normalized field (AI results)."
    )
    warnings: list[str] = Field(default_factory=list)
    received_at: datetime
    capture_id: int | None = None

    @classmethod
    def build(cls, **fields: Any) -> Event:
        """Validate the fields and stamp the content hash as `event_id`."""
        draft = cls.model_validate({**fields, "event_id": ""})
        return draft.model_copy(update={"event_id": content_id(draft)})

    @classmethod
    def assemble(cls, fields: dict[str, Any]) -> Event:
        """`build` without validation, for the dialects: they hand over values of the fields' own types (enum
        members, aware datetimes, `Output` models), and validating those again cost as much as the rest of
        normalization. tests/dialects/test_normalize_snapshot.py checks that validation would make the same
        event from every fixture. `fields` is every field but `event_id`, as one dict (unpacking keywords
        cost more than the rest of this method); names are still checked, as `extra="forbid"` would."""
        values = _EVENT_DEFAULTS.copy()  # declaration order, which is the order fields serialize in
        values.update(fields)
        if len(values) != _EVENT_SIZE or not fields.keys() >= _ASSEMBLE_REQUIRED:
            unknown = sorted(values.keys() - _EVENT_DEFAULTS.keys())
            missing = sorted(_ASSEMBLE_REQUIRED - fields.keys())
            raise TypeError(f"Event fields: unknown {unknown}, missing {missing}")
        # Fresh containers, as validation makes: the caller's lists and dicts stay the caller's.
        values["outputs"] = list(values["outputs"])
        values["extra"] = dict(values["extra"])
        values["warnings"] = list(values["warnings"])
        # What `model_construct` does, without its per-field bookkeeping (which costs more than validating).
        event = _new_object(cls)
        _set_dict(event, values)
        _set_fields_set(event, _EVENT_FIELDS.copy())  # every field is set
        _set_extra(event, None)
        _set_private(event, None)
        # The id is stamped before the event is handed out, so the frozen model is never seen changing.
        values["event_id"] = content_id(event)
        return event

    @property
    def task_key(self) -> str | None:
        """The key that task state is kept under: a task id, or for task-less media events the media id."""
        if self.task_id:
            return self.task_id
        if self.media_id:
            return f"media:{self.media_id}"
        return None

    @property
    def transition_key(self) -> str:
        """Two events that make the same transition share this key even when their wording differs."""
        status = self.status.value if self.status else "-"
        outcome = self.outcome.value if self.outcome else "-"
        return f"{self.provider.value}/{self.task_key or '-'}/{status}/{outcome}"

    @property
    def provider_time(self) -> datetime | None:
        """The provider's own time for this report: what orders two terminal reports of one task."""
        return self.finished_at or self.updated_at or self.started_at or self.created_at


def content_id(event: Event) -> str:
    """A stable hash of everything in `event` but its receipt fields.

    Fields serialize in declaration order, and `extra` keeps the provider's key order, so the same bytes
    always give the same id. The bytes are `model_dump_json`'s (see `_serializer`).
    """
    digest = _SHA256.copy()
    digest.update(_CONTENT_SERIALIZER.to_json(event))
    return digest.hexdigest()[:32]


def _serializer(model: type[BaseModel], leave_out: Iterable[str] = ()) -> SchemaSerializer:
    """`model`'s own serializer (`model_dump_json`), but for two things that give the same bytes faster.

    Fields in `leave_out` are left out by the schema rather than by an `exclude` argument, which is checked
    against every field of every call. The enum fields are written as the strings they are: a member of a
    `StrEnum` is a str whose text is its value, and pydantic-core's enum serializer reads `member.value`
    first, a Python call per enum field (seven on a one-output event), a quarter of the serialization's time.
    The models are built from the edited schema (`receiver._schema.edited`). tests/dialects/test_content_id.py
    (the event id's bytes) and tests/store/test_stored_json.py (the stored text) compare with `model_dump_json`
    on every fixture.
    """
    models: set[type[BaseModel]] = set()
    schema = _strings_for_enums(model.__pydantic_core_schema__, models)
    for name in leave_out:
        fields = schema["schema"]["fields"]
        fields[name] = {**fields[name], "serialization_exclude": True}
    with edited(models):
        return SchemaSerializer(schema)


def _strings_for_enums(schema: Any, models: set[type[BaseModel]]) -> Any:
    if isinstance(schema, list):
        return [_strings_for_enums(item, models) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "enum":
        if not issubclass(schema["cls"], StrEnum):
            raise TypeError(f"{schema['cls'].__name__} is not a StrEnum: its members are not their values")
        return core_schema.str_schema()
    if schema.get("type") == "model":
        models.add(schema["cls"])
    return {key: _strings_for_enums(value, models) for key, value in schema.items()}


_CONTENT_SERIALIZER = _serializer(Event, leave_out=RECEIPT_FIELDS)
#: Copied for each id: a new hash object looks its digest up in OpenSSL (3.x) every time, which cost a third
#: of hashing an event's content; a copy does not.
_SHA256 = hashlib.sha256()
#: Every field in declaration order with its default, which `Event.assemble` starts from (it sets the
#: required ones and the id, and replaces the containers).
_EVENT_DEFAULTS: dict[str, Any] = {
    name: info.get_default(call_default_factory=True) for name, info in Event.model_fields.items()
}
#: Every field name: `Event.assemble` sets them all.
_EVENT_FIELDS = set(_EVENT_DEFAULTS)
_EVENT_SIZE = len(_EVENT_DEFAULTS)
_new_object = object.__new__
# BaseModel's own slots, set through their descriptors: `object.__setattr__` looks the descriptor up on every
# call, which cost a fifth of `Event.assemble` (its id aside; a frozen model refuses its own `__setattr__`).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
#: The required fields `Event.assemble` needs (it computes the id itself).
_ASSEMBLE_REQUIRED = frozenset(name for name, info in Event.model_fields.items() if info.is_required()) - {"event_id"}


M = TypeVar("M", bound=BaseModel)


def _assembler(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """`Event.assemble` for a part of an event (`Output`, `Stream`): a model built from `fields` without
    validation. The dialects hand over values of the fields' own types (enum members, `Stream` and `ErrorInfo`
    models, fresh lists), which validating again cost more than collecting them did;
    tests/dialects/test_normalize_snapshot.py checks that validation would make the same parts. `fields` is
    handed over (it becomes the model's own); names are checked, as `extra="forbid"` would. Only for models
    whose defaults are immutable (`None`, a member): they are shared, not copied; a field with a default factory
    (a list) must be given, like a required one."""
    # Declaration order, which is the order fields serialize in; a required field's placeholder is replaced.
    defaults = {name: info.get_default() for name, info in cls.model_fields.items()}
    required = frozenset(
        name for name, info in cls.model_fields.items() if info.is_required() or info.default_factory is not None
    )
    every_field = set(defaults)
    size = len(defaults)

    def assemble(fields: dict[str, Any]) -> M:
        values = defaults.copy()
        values.update(fields)
        if len(values) != size or not fields.keys() >= required:
            unknown = sorted(values.keys() - defaults.keys())
            raise TypeError(f"{cls.__name__} fields: unknown {unknown}, missing {sorted(required - fields.keys())}")
        model = _new_object(cls)
        _set_dict(model, values)
        _set_fields_set(model, every_field.copy())  # as `Event.assemble`
        _set_extra(model, None)
        _set_private(model, None)
        return model

    return assemble


assemble_output = _assembler(Output)
assemble_stream = _assembler(Stream)


class Task(BaseModel):
    """A task's state merged from all its events; `version` grows by one on every change."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    task_id: str
    source: str
    dialect: str
    task_kind: TaskKind | None = None
    media_id: str | None = None
    status: Status
    outcome: Outcome | None = None
    provider_status: str | None = None
    error: ErrorInfo | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: list[Output] = Field(default_factory=list)
    session: Session | None = None
    version: int = 0
    last_event_id: str | None = None
    last_origin: Origin | None = None
    provider_time: datetime | None = None
    first_seen_at: datetime
    changed_at: datetime


assemble_task = _assembler(Task)

#: What the stores write: `model_dump_json`'s text, built faster (`_serializer`).
_EVENT_JSON = _serializer(Event)
_TASK_JSON = _serializer(Task)


def event_json(event: Event) -> str:
    """`event.model_dump_json()`, as the stores write every event they keep."""
    return _EVENT_JSON.to_json(event).decode()


def task_json(task: Task) -> str:
    """`task.model_dump_json()`, as the stores write every task state they keep."""
    return _TASK_JSON.to_json(task).decode()

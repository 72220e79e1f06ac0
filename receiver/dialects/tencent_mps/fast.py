"""The bytes-level fast path for MPS callbacks (`TencentMpsDialect.normalize_body`).

The ordinary path parses the body (json.loads), unwraps it and validates it as `ParseNotification`; the fast
path has pydantic validate the bytes straight into that model, in about the time parsing alone took. It
covers plain callbacks (no CMQ or `Response` wrapper) of a known `EventType` that validate without a single
error; the task readers are the ordinary ones, handed the raw values they copy into the event through
`Verbatim` (each kept by a second field reading the same key as sent). Anything else (DescribeTaskDetail and
live-stream notifications, a value to repair, a number where a string belongs, a raw look-up the fast path did
not keep, a quarantine) returns None and the ordinary path runs, so both give the same events (the dialect
tests and tests/dialects/test_normalize_snapshot.py compare them).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from receiver.dialects._coerce import Lenient, SlowPath, Verbatim
from receiver.dialects.base import NormalizeContext, Unidentifiable, body_validator, read_body
from receiver.dialects.tencent_mps import models as w
from receiver.dialects.tencent_mps.normalize import EVENT_OBJECTS, WORKFLOW_EXTRA_SETS, event_of, read_callback
from receiver.model import Event


def _as_sent(key: str) -> Any:
    """A second field reading `key`, with no type: the value as sent, for the readers to copy verbatim."""
    return Field(default=None, validation_alias=key)


class _WorkflowTask(w.WorkflowTask):
    MetaData_sent: Any = _as_sent("MetaData")
    SmartEraseTaskResult_sent: Any = _as_sent("SmartEraseTaskResult")


class _ScheduleTask(w.ScheduleTask):
    MetaData_sent: Any = _as_sent("MetaData")
    ActivityResultSet_sent: Any = _as_sent("ActivityResultSet")


class _BatchTask(w.BatchSubTaskResult):
    InputInfos_sent: Any = _as_sent("InputInfos")
    Metadatas_sent: Any = _as_sent("Metadatas")
    SmartSubtitlesTaskResult_sent: Any = _as_sent("SmartSubtitlesTaskResult")


class _WatermarkTask(w.ExtractBlindWatermarkTask):
    Type_sent: Any = _as_sent("Type")
    IsDetected_sent: Any = _as_sent("IsDetected")
    Result_sent: Any = _as_sent("Result")
    ExtractBlindWatermarkConfig_sent: Any = _as_sent("ExtractBlindWatermarkConfig")


class _Callback(w.ParseNotification):
    """A plain callback: `EventType` given, no `Response` wrapper (whose presence changes the reading)."""

    EventType: str
    WorkflowTaskEvent: _WorkflowTask | None = None
    ScheduleTaskEvent: _ScheduleTask | None = None
    BatchTaskEvent: _BatchTask | None = None
    ExtractBlindWatermarkTask: _WatermarkTask | None = None
    Response: None = None


def _verbatim(task: w.Wire) -> Verbatim:
    """The raw values the task readers look up, as sent."""
    if isinstance(task, _WorkflowTask):
        sets = {name: getattr(task, name) for name in WORKFLOW_EXTRA_SETS if name != "SmartEraseTaskResult"}
        return Verbatim(MetaData=task.MetaData_sent, SmartEraseTaskResult=task.SmartEraseTaskResult_sent, **sets)
    if isinstance(task, _ScheduleTask):
        return Verbatim(MetaData=task.MetaData_sent, ActivityResultSet=task.ActivityResultSet_sent)
    if isinstance(task, _BatchTask):
        return Verbatim(
            InputInfos=task.InputInfos_sent,
            Metadatas=task.Metadatas_sent,
            SmartSubtitlesTaskResult=task.SmartSubtitlesTaskResult_sent,
        )
    if isinstance(task, _WatermarkTask):
        return Verbatim(
            Type=task.Type_sent,
            IsDetected=task.IsDetected_sent,
            Result=task.Result_sent,
            ExtractBlindWatermarkConfig=task.ExtractBlindWatermarkConfig_sent,
        )
    return Verbatim()


_CALLBACKS = body_validator(_Callback)


def normalize_body(body: bytes, ctx: NormalizeContext) -> list[Event] | None:
    """The event of a callback body, or None when the ordinary path must normalize it."""
    if ctx.api is not None:  # a query answer: not the shape the fast path reads
        return None
    callback = read_body(_CALLBACKS, body)
    if callback is None:
        return None
    event_type = callback.EventType.strip()
    known = EVENT_OBJECTS.get(event_type)
    if known is None:
        return None
    task = getattr(callback, known[0])
    try:
        report = read_callback(callback, event_type, None if task is None else _verbatim(task), "$", Lenient())
        return [event_of(report, ctx)]
    except (SlowPath, Unidentifiable):  # a quarantine is left to the ordinary path, which words it
        return None

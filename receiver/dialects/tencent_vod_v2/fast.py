"""The bytes-level fast path for legacy VOD callbacks (`TencentVodV2.normalize_body`).

The ordinary path parses the body, validates the envelope, then validates the `data` block of the event type;
the fast path has pydantic validate the bytes straight into the same `data` model in one pass, which saves
most of the parse. It covers callbacks (and PullEvent answers, which carry callbacks) that validate without a
single error and whose event type has a reader; the readers are the ordinary ones, handed the model through
`Prevalidated`. Anything else (other query answers, a value to repair, a look-up of raw data the fast path
did not keep, a quarantine) returns None and the ordinary path runs, so both give the same events (the
dialect tests and tests/dialects/test_normalize_snapshot.py compare them).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, create_model

from receiver.dialects._coerce import Lenient, Prevalidated, SlowPath
from receiver.dialects.base import NormalizeContext, Unidentifiable, body_validator, read_body
from receiver.dialects.tencent_vod_v2 import models as m
from receiver.dialects.tencent_vod_v2.normalize import CALLBACK_MODELS, read_callback
from receiver.model import Event, Origin


class _ProcedureData(m.ProcedureData):
    """`metaData` is also kept as sent: the reader copies it into `extra` verbatim."""

    metaData_sent: Any = Field(default=None, validation_alias="metaData")


def _raw_of(data: m.Wire) -> dict[str, Any]:
    """The raw values a reader may look up, where the validated value is the raw one (`Any` fields)."""
    if isinstance(data, _ProcedureData):
        return {
            "metaData": data.metaData_sent,
            "drm": data.drm,
            "contentReviewList": data.contentReviewList,
            "aIAnalysisList": data.aIAnalysisList,
        }
    return {}


def _callback_model(event_type: str, data: type[m.Wire]) -> type[m.Wire]:
    """The envelope of one event type with its `data` typed: `{"version", "eventType": <event_type>, "data"}`."""
    fields: dict[str, Any] = {
        "version": (m.Version, None),
        "eventType": (Literal[event_type], ...),
        "data": ((_ProcedureData if data is m.ProcedureData else data) | None, None),
    }
    model: type[m.Wire] = create_model(f"{event_type}Callback", __base__=m.Wire, **fields)
    return model


_CALLBACK_MODELS: Any = tuple(_callback_model(event_type, data) for event_type, data in CALLBACK_MODELS.items())
#: A callback of any event type with a reader, told apart by its `eventType`.
_CALLBACK = Annotated[Union[_CALLBACK_MODELS], Field(discriminator="eventType")]  # noqa: UP007


class _Pulled(m.Wire):
    msgHandle: str | None = None
    eventContent: _CALLBACK | None = None


class _PullEventAnswer(m.Wire):
    """A PullEvent answer; unknown keys are kept to tell it from a callback (a top-level `eventType`)."""

    model_config = ConfigDict(extra="allow")

    code: int | None = None
    message: str | None = None
    eventList: list[_Pulled] | None = None


_CALLBACKS = body_validator(_CALLBACK)
#: The first `"eventType": "<text>"` of a body (a cheap look; the validation decides).
_EVENT_TYPE = re.compile(rb'"eventType"\s*:\s*"([^"\\]*)"')
_FAST_TYPES = frozenset(event_type.encode() for event_type in CALLBACK_MODELS)
_PULL_ANSWERS = body_validator(_PullEventAnswer)


def normalize_body(body: bytes, ctx: NormalizeContext) -> list[Event] | None:
    """The events of a callback body or PullEvent answer, or None when the ordinary path must normalize it."""
    if ctx.api is None:
        event_type = _EVENT_TYPE.search(body)
        if event_type is not None and event_type[1] not in _FAST_TYPES:
            return None  # a type without a reader: the fast path would read the whole body only to give up
        callback = read_body(_CALLBACKS, body)
        return None if callback is None else _read([(callback, "$")], ctx)
    if ctx.api == "PullEvent":
        answer = read_body(_PULL_ANSWERS, body)
        if answer is None or answer.code or "eventType" in (answer.model_extra or {}):
            return None  # an error answer, or a callback: the ordinary path words or reads it
        # The handle stays out of the event: the same event pulled twice must keep its content id.
        pulled = NormalizeContext(
            source=ctx.source, origin=Origin.PULL, received_at=ctx.received_at, capture_id=ctx.capture_id, api=ctx.api
        )
        return _read(
            [
                (item.eventContent, f"$.eventList[{index}].eventContent")
                for index, item in enumerate(answer.eventList or [])
                if item.eventContent is not None
            ],
            pulled,
        )
    return None  # other query answers: not shapes the fast path reads


def _read(callbacks: list[tuple[Any, str]], ctx: NormalizeContext) -> list[Event] | None:
    events: list[Event] = []
    try:
        for callback, path in callbacks:
            if callback.data is None:
                return None
            data = Prevalidated(callback.data, _raw_of(callback.data))
            events.extend(read_callback(callback.eventType, data, ctx, Lenient(), path))
    except (SlowPath, Unidentifiable):  # a quarantine is left to the ordinary path, which words it
        return None
    return events

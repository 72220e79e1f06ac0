"""The bytes-level fast path for VOD 3.0 push bodies (`TencentVodV3.normalize_body`).

The ordinary path parses the body (json.loads), finds the event's object and validates it as its reader's
model; the fast path has pydantic validate the bytes straight into that model, in about the time parsing alone
took. It covers push bodies whose event type has a reader with a model (`READER_MODELS`), whose object sits
under one of the documented keys and which validate without a single error; the readers are the ordinary
ones, handed the model through `Prevalidated`. Anything else (PullEvents and DescribeTaskDetail answers, a
value to repair, a number where a string belongs, a raw look-up the fast path did not keep, a quarantine)
returns None and the ordinary path runs, so both give the same events (the dialect tests and
tests/dialects/test_normalize_snapshot.py compare them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, create_model

from receiver.dialects._coerce import Lenient, Prevalidated, SlowPath
from receiver.dialects.base import NormalizeContext, Unidentifiable, body_validator, read_body
from receiver.dialects.tencent_vod_v3 import models as m
from receiver.dialects.tencent_vod_v3.normalize import READER_MODELS, event_keys, read_event
from receiver.dialects.tencent_vod_v3.tables import EVENTS
from receiver.model import Event, Origin


def _raw_of(task: m.Wire) -> dict[str, Any]:
    """The raw values a reader may look up, where the validated value is the raw one (`Any` fields)."""
    if isinstance(task, m.NewFileTask):
        return {"Input": task.Input}
    return {}


def _push_model(event_type: str) -> type[m.Wire]:
    """`{"EventType": <event_type>, <each key its object may sit under>: <its reader's model>}`."""
    spec = EVENTS[event_type]
    model = READER_MODELS[spec.reader]
    keys = dict.fromkeys(event_keys(event_type, spec))  # in the order they are tried, once each
    fields: dict[str, Any] = {key: (model | None, None) for key in keys if key != "EventType"}
    tag: Any = Literal[event_type]
    push: type[m.Wire] = create_model(f"{event_type}Push", __base__=m.Wire, EventType=(tag, ...), **fields)
    push.__event_keys__ = tuple(fields)  # type: ignore[attr-defined]
    return push


_PUSH_MODELS: Any = tuple(_push_model(name) for name, spec in EVENTS.items() if spec.reader in READER_MODELS)
#: A push body of any event type with a reader, told apart by its `EventType`.
_PUSH = Annotated[Union[_PUSH_MODELS], Field(discriminator="EventType")]  # noqa: UP007


class _PullBody(m.Wire):
    """PullEvents' `Response`; unknown keys are kept to see an `Error`."""

    model_config = ConfigDict(extra="allow")

    EventSet: list[_PUSH] | None = None
    RequestId: str | None = None


class _PullAnswer(m.Wire):
    """`{"Response": {…}}`; unknown keys are kept to tell it from a push body (a top-level `EventType`)."""

    model_config = ConfigDict(extra="allow")

    Response: _PullBody


_PUSHES = body_validator(_PUSH)
_PULL_ANSWERS = body_validator(_PullAnswer)


def normalize_body(body: bytes, ctx: NormalizeContext) -> list[Event] | None:
    """The events of a push body or PullEvents answer, or None when the ordinary path must normalize it."""
    if ctx.api is None:
        push = read_body(_PUSHES, body)
        return None if push is None else _read([(push, "$")], ctx)
    if ctx.api == "PullEvents":
        answer = read_body(_PULL_ANSWERS, body)
        if (
            answer is None
            or "EventType" in (answer.model_extra or {})
            or "Error" in (answer.Response.model_extra or {})
        ):
            return None  # a push body, or an error answer: the ordinary path reads or words it
        origin = ctx.origin if ctx.origin in (Origin.PULL, Origin.REPLAY) else Origin.PULL
        pulled = NormalizeContext(
            source=ctx.source, origin=origin, received_at=ctx.received_at, capture_id=ctx.capture_id, api=ctx.api
        )
        items = answer.Response.EventSet or []
        return _read([(item, f"$.Response.EventSet[{index}]") for index, item in enumerate(items)], pulled)
    return None  # DescribeTaskDetail answers: not a shape the fast path reads


def _read(pushes: list[tuple[Any, str]], ctx: NormalizeContext) -> list[Event] | None:
    events: list[Event] = []
    try:
        for push, path in pushes:
            # The first key holding an object, as the ordinary path looks for it (the others are null or absent).
            key = next((key for key in push.__event_keys__ if getattr(push, key) is not None), None)
            if key is None:
                return None
            task = getattr(push, key)
            event_type = push.EventType
            data = Prevalidated(task, _raw_of(task))
            events.extend(read_event(event_type, EVENTS[event_type], key, data, ctx, Lenient(), path))
    except (SlowPath, Unidentifiable):  # a quarantine is left to the ordinary path, which words it
        return None
    return events

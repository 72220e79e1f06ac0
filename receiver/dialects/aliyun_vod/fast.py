"""The bytes-level fast path for Alibaba VOD callbacks (`AliyunVod.normalize_body`).

The ordinary path parses the body (json.loads), strips stray spaces from every object's keys (`"Status "`,
one object at a time, as each model reads it) and validates the callback as its reader's model. The fast path
has pydantic validate the bytes straight into that model, without the key stripping: every model keeps its
unknown keys here, and a key with surrounding spaces (it cannot match a field as sent) sends the body down the
ordinary path, as does anything else the fast path does not cover (query answers, a value to repair, a number
where a string belongs, a raw look-up, a quarantine). The readers are the ordinary ones, handed the model
through `Prevalidated`, so both paths give the same events (the dialect tests and
tests/dialects/test_normalize_snapshot.py compare them).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model

from receiver.dialects._coerce import Lenient, Prevalidated, SlowPath
from receiver.dialects.aliyun_vod import models as m
from receiver.dialects.aliyun_vod.normalize import CALLBACK_MODELS, CALLBACK_READERS
from receiver.dialects.base import NormalizeContext, Unidentifiable, body_validator, read_body
from receiver.model import Event


def _callback_model(event_type: str, model: type[m.Wire]) -> type[m.Wire]:
    tag: Any = Literal[event_type]
    callback: type[m.Wire] = create_model(f"{event_type}Body", __base__=model, EventType=(tag, ...))
    return callback


_CALLBACK_MODELS: Any = tuple(_callback_model(event_type, model) for event_type, model in CALLBACK_MODELS.items())
_CALLBACKS = body_validator(
    Annotated[Union[_CALLBACK_MODELS], Field(discriminator="EventType")],  # noqa: UP007
    skip=m.Wire._strip_key_spaces,
    keep_unknown=True,
    text_decoders=(m.json_text, m.json_list),
)


#: The first `"EventType": "<text>"` of a body: a look at it tells a type the fast path does not read.
_EVENT_TYPE = re.compile(rb'"EventType"\s*:\s*"([^"\\]*)"')
#: The AI events carry their results as one large `Data` value, which pydantic builds from JSON more slowly than
#: the ordinary parse does: the fast path loses on them.
_FAST_TYPES = frozenset(event_type.encode() for event_type in CALLBACK_MODELS if not event_type.startswith("AI"))


def normalize_body(body: bytes, ctx: NormalizeContext) -> list[Event] | None:
    """The event of a callback body, or None when the ordinary path must normalize it."""
    if ctx.api is not None:  # a query answer: not the shape the fast path reads
        return None
    if not _worth_trying(body):
        return None
    callback = read_body(_CALLBACKS, body)
    # A `TranscodeTaskList` key, even null, makes the body a ListTranscodeTask answer to the ordinary path.
    if callback is None or "TranscodeTaskList" in (callback.model_extra or {}) or _padded_keys(callback):
        return None
    try:
        event_type = callback.EventType
        return [CALLBACK_READERS[event_type](event_type, Prevalidated(callback), ctx, Lenient())]  # type: ignore[arg-type]
    except (SlowPath, Unidentifiable):  # a quarantine is left to the ordinary path, which words it
        return None


def _worth_trying(body: bytes) -> bool:
    """False for a body the fast path would read in full only to give up: an event type it does not read. A
    cheap look, not a decision: whatever passes is still validated in full, and whatever does not takes the
    ordinary path."""
    event_type = _EVENT_TYPE.search(body)
    return event_type is None or event_type[1] in _FAST_TYPES


def _padded_keys(model: BaseModel) -> bool:
    """True when `model`, or a model inside it, was validated from an object with a key that has surrounding
    white space: the ordinary path would have stripped it (and perhaps matched a field with it)."""
    extra = model.model_extra
    if extra and any(key != key.strip() for key in extra):
        return True
    for name in _nested_fields(type(model)):
        value = getattr(model, name)
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, BaseModel) and _padded_keys(item):
                return True
    return False


@cache
def _nested_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` that may hold models (directly or in a list)."""
    return tuple(name for name, info in model.model_fields.items() if _holds_models(info.annotation))


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel)
    return any(_holds_models(arg) for arg in getattr(annotation, "__args__", ()))

"""The bytes-level fast path for Alibaba VOD callbacks and query answers (`AliyunVod.normalize_body`).

The ordinary path parses the body (json.loads), strips stray spaces from every object's keys (`"Status "`,
one object at a time, as each model reads it) and validates the document as its reader's model. The fast path
has pydantic validate the bytes straight into that model, without the key stripping: every model keeps its
unknown keys here, and one with surrounding spaces (it cannot match a field as sent) fails validation, which
sends the body down the ordinary path, as does anything else the fast path does not cover (a value to repair,
a number where a string belongs, a raw look-up, a quarantine). The readers are the ordinary ones, so both paths
give the same events (the dialect tests and tests/dialects/test_normalize_snapshot.py compare them).

Callbacks: the reader is handed the model through `Prevalidated`. Query answers (a poll names the API in
`ctx.api`): GetTranscodeTask and ListTranscodeTask answers are read by `get_event`/`list_events`, which also
look at the raw answer for a job's JSON texts mangled the 2021 doc's way (repaired, with a warning). The
validation notes in a `models.Reading` every text it repaired: without one there is nothing to look at, and
with one the body is decoded as the ordinary path decodes it, for the readers to look at.

A time that cannot be read (the docs' `"019-01-23T12:35:12Z"`) does not fail the fast path's validation: it is
left in its field as a `models.UnreadTime`, and nulled here with the warning `validate_leniently` gives for it
on the ordinary path (which validates, nulls every field that failed and validates again), in the same order.
Unless it lies in a value that came as JSON text: the ordinary path nulls that whole value instead.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model
from pydantic_core import core_schema

from receiver.dialects._coerce import Lenient, Prevalidated, SlowPath
from receiver.dialects.aliyun_vod import models as m
from receiver.dialects.aliyun_vod.normalize import (
    CALLBACK_MODELS,
    CALLBACK_RAW_KEYS,
    CALLBACK_READERS,
    GET_TRANSCODE_TASK,
    LIST_TRANSCODE_TASK,
    fields_of,
    get_event,
    list_events,
)
from receiver.dialects.base import NormalizeContext, Unidentifiable, body_validator, decode_json, read_body
from receiver.model import Event

#: An unknown key without surrounding white space: one with it fails validation, because the ordinary path would
#: have stripped it (and perhaps matched a field with it). The white space is what `str.strip` strips: the
#: regex's Unicode `\s` and the four separators U+001C…U+001F (tests/dialects/test_aliyun_vod.py checks every
#: code point).
UNPADDED_KEY = core_schema.str_schema(pattern=r"(?s)^(?:[^\s\x1C-\x1F](?:.*[^\s\x1C-\x1F])?)?$")


def _fast_validator(tp: Any) -> Any:
    """The fast path's validator of `tp`: unknown keys kept (refused when padded), JSON texts decoded."""
    return body_validator(
        tp,
        skip=m.Wire._strip_key_spaces,
        keep_unknown=True,
        unknown_keys=UNPADDED_KEY,
        text_decoders=m.TEXT_DECODERS,
    )


def _callback_model(event_type: str, model: type[m.Wire]) -> type[m.Wire]:
    """`model` tagged with its `EventType`, with a `<key>Sent` field keeping the value of each of the reader's
    raw keys as sent (beside the key's own field, when it has one)."""
    tag: Any = Literal[event_type]
    sent: Any = {
        f"{key}Sent": (Any, Field(None, validation_alias=key)) for key in CALLBACK_RAW_KEYS.get(event_type, ())
    }
    callback: type[m.Wire] = create_model(f"{event_type}Body", __base__=model, EventType=(tag, ...), **sent)
    return callback


_CALLBACK_MODELS: Any = tuple(_callback_model(event_type, model) for event_type, model in CALLBACK_MODELS.items())
_CALLBACKS = _fast_validator(Annotated[Union[_CALLBACK_MODELS], Field(discriminator="EventType")])  # noqa: UP007
_ANSWERS = {
    GET_TRANSCODE_TASK: _fast_validator(m.GetTranscodeTaskAnswer),
    LIST_TRANSCODE_TASK: _fast_validator(m.ListTranscodeTaskAnswer),
}


def normalize_body(body: bytes, ctx: NormalizeContext) -> list[Event] | None:
    """The events of a callback body or a query answer, or None when the ordinary path must normalize it."""
    if ctx.api is not None:
        return _query_answer(body, ctx)
    reading = m.Reading()
    callback = read_body(_CALLBACKS, body, reading)
    # A `TranscodeTaskList` key, even null, makes the body a ListTranscodeTask answer to the ordinary path.
    if callback is None or "TranscodeTaskList" in (callback.model_extra or {}):
        return None
    lenient = Lenient()
    if (reading.unread or reading.unreadable) and not _null_unread(callback, reading, lenient):
        return None
    try:
        event_type = callback.EventType
        raw_keys = CALLBACK_RAW_KEYS.get(event_type)
        raw = {key: fields_of(callback)[f"{key}Sent"] for key in raw_keys} if raw_keys else None
        return [CALLBACK_READERS[event_type](event_type, Prevalidated(callback, raw), ctx, lenient)]  # type: ignore[arg-type]
    except (SlowPath, Unidentifiable):  # a quarantine is left to the ordinary path, which words it
        return None


def _query_answer(body: bytes, ctx: NormalizeContext) -> list[Event] | None:
    """The events of a GetTranscodeTask or ListTranscodeTask answer (the API `ctx` names), or None when the
    ordinary path must normalize it: another API, a body that fails validation, an error answer or one
    without its task or list (the ordinary path words the quarantine)."""
    validator = _ANSWERS.get(ctx.api)  # type: ignore[arg-type]
    if validator is None:
        return None
    reading = m.Reading()
    answer = read_body(validator, body, reading)
    # A text that is not JSON: an answer has fields of one name at several depths, which `_null_unread` does
    # not tell apart.
    if answer is None or reading.unreadable:
        return None
    lenient = Lenient()
    if reading.unread and not _null_unread(answer, reading, lenient):
        return None
    try:
        # The raw answer only matters for its repaired texts (and a body that has them decodes as ever).
        raw: dict[str, Any] = decode_json(body) if reading.repaired else {}
        if ctx.api == GET_TRANSCODE_TASK:
            return [get_event(answer, raw, ctx, lenient)]
        return list_events(answer, raw, ctx, lenient)
    except Unidentifiable:
        return None


#: A location in a document: keys and list indices.
Location = tuple[str | int, ...]
#: A value validation could not read: where it is, the values of the model that has it, the field, the value as
#: sent, and what is wrong with it.
Unread = tuple[Location, dict[str, Any], str, Any, str]


def _null_unread(model: BaseModel, reading: m.Reading, lenient: Lenient) -> bool:
    """Null every value of `model` its validation could not read (`UnreadTime`s, and the fields of
    `reading.unreadable`, which are top-level fields: callbacks have JSON texts nowhere else), with the
    warnings the ordinary path gives, last first as `validate_leniently` repairs. False when the ordinary path
    would read them otherwise: one lies in a value that came as JSON text (which the ordinary path nulls
    whole; a field of that name came as text), or they are not all found."""
    unreadable = {name: (text, problem) for name, text, problem in reading.unreadable}
    found: list[Unread] = []
    _find_unread(model, (), unreadable, found)
    if len(found) != reading.unread + len(reading.unreadable):
        return False
    for location, _, _, _, _ in found:
        if any(part in reading.texts for part in location[:-1] if type(part) is str):
            return False
    for location, values, name, sent, problem in reversed(found):
        values[name] = None
        # pydantic's words for a ValueError a validator raised, which `validate_leniently` lower-cases.
        lenient.warn(_path(location), sent, f"Value error, {problem}".lower())
    return True


def _find_unread(
    model: BaseModel, location: Location, unreadable: dict[str | None, tuple[str, str]], found: list[Unread]
) -> None:
    """Add each unread value in `model` to `found`, in the order validation meets fields (declaration order,
    list items in order); the `unreadable` texts are looked for at the top only."""
    values = fields_of(model)
    for name, is_time in _may_be_unread(type(model)):
        value = values[name]
        if is_time:
            if type(value) is m.UnreadTime:
                found.append(((*location, name), values, name, value.value, value.problem))
        elif type(value) is list:
            for index, item in enumerate(value):
                if item is not None:
                    _find_unread(item, (*location, name, index), {}, found)
        elif value is not None:
            _find_unread(value, (*location, name), {}, found)
        elif name in unreadable:
            found.append(((name,), values, name, *unreadable[name]))


@cache
def _may_be_unread(model: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """The fields of `model` that may hold an unread value, in declaration order, as (name, is a time): its
    times, and the fields that hold models (a model, or a list of models and Nones; the JSON texts that hold
    plain JSON, an `Encryption` or a `SubtitleStreamList`, are left out: they hold no times)."""
    found = []
    for name, info in model.model_fields.items():
        if any(getattr(meta, "func", None) is m.provider_time for meta in info.metadata):
            found.append((name, True))
        elif _holds_models(info.annotation):
            found.append((name, False))
    return tuple(found)


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel)
    return any(_holds_models(arg) for arg in getattr(annotation, "__args__", ()))


def _path(location: Location) -> str:
    """A location as `validate_leniently` writes it: `$.StreamInfos[2].StartTime`."""
    return "$" + "".join(f"[{part}]" if type(part) is int else f".{part}" for part in location)

"""The contract every provider dialect fulfils.

A dialect is the only place that knows a provider's field names. The ingest pipeline calls, in order:
`verify` on the raw request (before anything trusts the body), `decode` on the body bytes, and `normalize`
on the decoded document. `detect` lets the `auto` source pick a dialect from the body's shape.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema, from_json

from receiver._schema import edited
from receiver.model import Event, Origin, Provider

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class RawCallback:
    """A request as it reached us, before anything is trusted. Header names are lower-case."""

    source: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    remote: str | None = None
    method: str = "POST"
    path: str = "/"
    query: str = ""


@dataclass(frozen=True)
class SigningPolicy:
    """What a source checks on each callback. Several keys may be active at once, for rotation."""

    keys: tuple[str, ...] = ()
    #: The URL the provider was told to call (Alibaba signs it); never rebuilt from the request.
    public_url: str | None = None
    #: How far the provider's clock may be from ours, in seconds.
    tolerance_s: float = 300.0

    @property
    def enabled(self) -> bool:
        return bool(self.keys)


class Verdict(StrEnum):
    VERIFIED = "verified"
    UNSIGNED = "unsigned"  # the source has no key: accepted, and the server warns at startup
    REFUSED = "refused"


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.verdict is not Verdict.REFUSED


ACCEPTED_UNSIGNED = Verification(Verdict.UNSIGNED)


@dataclass(frozen=True)
class NormalizeContext:
    """What the pipeline knows about a document besides its content."""

    source: str
    origin: Origin
    received_at: datetime
    capture_id: int | None = None
    #: A task id known from outside the body (a query's parameter, when the answer omits it).
    task_id_hint: str | None = None
    #: For query answers: which API produced the document (e.g. "GetTaskInfo").
    api: str | None = None

    def event(self, fields: dict[str, Any], provider: Provider, dialect: str, warnings: list[str]) -> Event:
        """The event of a dialect's normalized `fields`, stamped with this receipt (source, origin, received
        time, capture) the same way for every dialect (`Event.assemble`: the fields already have their types).
        `fields` is handed over: the receipt is written into it rather than into a copy."""
        fields["provider"] = provider
        fields["dialect"] = dialect
        fields["source"] = self.source
        fields["origin"] = self.origin
        fields["received_at"] = self.received_at
        fields["capture_id"] = self.capture_id
        fields["warnings"] = warnings
        return Event.assemble(fields)


class Unidentifiable(ValueError):
    """The document cannot be recognised as any event of the dialect: it is quarantined with this error."""

    def __init__(self, reason: str, path: str = "$", value: Any = None) -> None:
        self.reason = reason
        self.path = path
        self.value = value
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:200] + "…"
        super().__init__(f"{reason} (at {path}: {shown})")


@dataclass
class Dialect(ABC):
    """A provider's callback dialect: detection, verification, decoding and normalization."""

    name: ClassVar[str]
    provider: ClassVar[Provider]
    #: What the provider does with our HTTP answer; decides what a 503 achieves.
    ack_semantics: ClassVar[str]
    extra_options: dict[str, Any] = field(default_factory=dict)

    @abstractmethod
    def detect(self, document: Any, headers: Mapping[str, str]) -> bool:
        """True when a decoded body (and its headers) is in this dialect."""

    def verify(self, raw: RawCallback, policy: SigningPolicy, now: datetime) -> Verification:
        """Check the request's signature. Dialects whose provider does not sign accept everything."""
        return ACCEPTED_UNSIGNED

    def decode(self, body: bytes) -> Any:
        """Turn body bytes into a document. JSON by default; dialects with other encodings override."""
        return decode_json(body)

    @abstractmethod
    def normalize(self, document: Any, ctx: NormalizeContext) -> list[Event]:
        """Normalize one decoded document into events, or raise `Unidentifiable`."""

    def normalize_body(self, body: bytes, ctx: NormalizeContext) -> list[Event]:
        """`normalize(decode(body))`, which is what it must always equal. A dialect may override it with a
        fast path that validates the bytes straight into its wire models (pydantic's JSON parser) and falls
        back to this for anything the fast path does not cover: Alibaba's does (`aliyun_vod/fast.py`, which
        also spares its key stripping). The three Tencent dialects each had one, and dropped it once
        bench.normalize showed it no faster than `decode_json` followed by validation. `decode` and
        `normalize` stay for documents that arrive decoded (the `auto` source, poll answers)."""
        return self.normalize(self.decode(body), ctx)


def decode_json(body: bytes) -> Any:
    """Parse a JSON body, or raise `Unidentifiable` saying what is wrong with it.

    pydantic-core's parser reads a body in about half the time `json.loads` takes, which matters next to the
    few microseconds normalization costs. It refuses every document json.loads refuses (and also a BOM and
    lone surrogates, which json.loads reads) and gives the same values for the rest, so a refusal just falls
    back to json.loads: the result, and the error of a bad body, are the same either way.
    """
    try:
        document = from_json(body)
    except ValueError:
        return _decode_json_slowly(body)
    if openings(body) > MAX_DEPTH and nesting_exceeds(document, MAX_DEPTH):
        return _decode_json_slowly(body)  # which refuses it, in the words it always used
    # No surrogate scrub: this parser refuses lone surrogates, and scrubbing leaves everything else as it is.
    return document


def _decode_json_slowly(body: bytes) -> Any:
    if not body.strip():
        raise Unidentifiable("empty body", "$", "")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unidentifiable(f"body is not UTF-8: {exc.reason} at byte {exc.start}", "$", body[:64]) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unidentifiable(
            f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "$", text[:64]
        ) from exc
    except RecursionError as exc:
        raise Unidentifiable("body is JSON nested too deeply to read", "$", text[:64]) from exc
    except ValueError as exc:  # an integer literal over Python's 4300-digit conversion limit
        raise Unidentifiable(f"body is JSON we cannot read: {str(exc)[:80]}", "$", text[:64]) from exc
    return checked_document(document, text)


def checked_document(document: Any, text: str) -> Any:
    """Guard a document decoded from `text` (by any decoder) against what would crash later stages:
    nesting too deep to serialize, and lone surrogates no UTF-8 encoder accepts."""
    if text.count("{") + text.count("[") > MAX_DEPTH and nesting_exceeds(document, MAX_DEPTH):
        raise Unidentifiable(f"body is JSON nested more than {MAX_DEPTH} levels deep", "$", text[:64])
    if _SURROGATE_ESCAPE.search(text):
        document = scrub_surrogates(document)
    return document


#: Far deeper than any provider document; JSON serializers (event ids, stores) give up a few hundred deep.
MAX_DEPTH = 64


def openings(body: bytes) -> int:
    """How many `{` and `[` bytes `body` has: a bound on its nesting depth. Measured as what removing them
    takes off: `replace` finds each one with memchr and copies the rest in blocks, a third of the time of one
    byte-by-byte pass (`translate`, or `count`) over a body, which is a tenth of the time json.loads takes."""
    return len(body) - len(body.replace(b"{", b"").replace(b"[", b""))


class BodyValidator(Protocol[T_co]):
    def validate_json(self, body: bytes, *, context: Any = None) -> T_co: ...


def body_validator(
    tp: Any,
    *,
    skip: Any = None,
    keep_unknown: bool = False,
    unknown_keys: Any = None,
    text_decoders: Collection[Any] = (),
) -> BodyValidator[Any]:
    """A validator for a dialect's fast-path type `tp` that refuses fractional numbers in string fields.

    The ordinary path validates decoded documents, where `coerce_numbers_to_str` writes a number as Python
    does (`1.0` → "1.0"); validating JSON, pydantic writes a float differently ("1"). So here the string
    fields of such models take a string, or an integer written by `str` as before, and nothing else: a float
    fails validation and the body takes the ordinary path. `skip` drops a model-level "before" validator
    (one the fast path makes unnecessary by checking its case another way), and `keep_unknown` keeps every
    model's unknown keys, for the fast path to look at; with it, `unknown_keys` is a core schema every unknown
    key must pass (a key it refuses fails the body). `text_decoders` are "before" validators that decode a
    value sent as JSON text and hand anything else on unchanged: validating JSON, pydantic gives such a
    validator the value as Python objects (a whole list of streams, built only to be validated again), so here
    a value is validated natively first, and only a text goes through the decoder. The models are built from
    the edited schema (`receiver._schema.edited`).
    """
    models: set[type[BaseModel]] = set()
    skipped = getattr(skip, "__func__", skip)
    decoders = {getattr(function, "__func__", function) for function in text_decoders}
    unknown = _Unknown(keep_unknown, unknown_keys)
    schema = _fast_schema(TypeAdapter(tp).core_schema, models, False, skipped, unknown, decoders)
    with edited(models):
        return SchemaValidator(schema)


@dataclass(frozen=True)
class _Unknown:
    """What `body_validator` does with unknown keys: keep them (`keep`), each passing `keys` when given."""

    keep: bool
    keys: Any


def _fast_schema(
    schema: Any, models: set[type[BaseModel]], coercing: bool, skipped: Any, unknown: _Unknown, decoders: set[Any]
) -> Any:
    if isinstance(schema, list):
        return [_fast_schema(item, models, coercing, skipped, unknown, decoders) for item in schema]
    if not isinstance(schema, dict):
        return schema
    config = schema.get("config")
    if isinstance(config, dict):
        coercing = bool(config.get("coerce_numbers_to_str"))
    if schema.get("type") == "function-before":
        function = schema["function"]["function"]
        function = getattr(function, "__func__", function)
        if function is skipped:
            return _fast_schema(schema["schema"], models, coercing, skipped, unknown, decoders)
        if function in decoders:
            inner = _fast_schema(schema["schema"], models, coercing, skipped, unknown, decoders)
            text = core_schema.chain_schema([core_schema.str_schema(strict=True), {**schema, "schema": inner}])
            return core_schema.union_schema([inner, text], mode="left_to_right")
    copied = {key: _fast_schema(value, models, coercing, skipped, unknown, decoders) for key, value in schema.items()}
    if copied.get("type") == "model":
        models.add(copied["cls"])
    if unknown.keep and unknown.keys is not None and copied.get("type") == "model-fields":
        copied["extras_keys_schema"] = unknown.keys
    if isinstance(config, dict) and (coercing or unknown.keep):
        copied["config"] = {**config, "coerce_numbers_to_str": False}
        if unknown.keep:
            copied["config"]["extra_fields_behavior"] = "allow"
    if coercing and copied.get("type") == "str":
        integer_text = core_schema.no_info_after_validator_function(str, core_schema.int_schema(strict=True))
        return core_schema.union_schema([copied, integer_text], mode="left_to_right")
    return copied


def read_body(validator: BodyValidator[T], body: bytes, context: Any = None) -> T | None:
    """`body` validated straight from its bytes by a dialect's fast-path `validator`, or None when the ordinary
    path must run: the body fails validation in any way (a BOM, lone surrogates, anything to repair, a shape
    the fast path does not know), or it might nest deeper than `decode_json` accepts (pydantic's parser does
    not check that, and counting brackets is the cheap bound: telling depth from the bytes costs more than the
    fast path saves). `context` is handed to the validators that take one (pydantic's validation context)."""
    if openings(body) > MAX_DEPTH:
        return None
    try:
        return validator.validate_json(body, context=context)
    except ValidationError:
        return None


def nesting_exceeds(document: Any, limit: int) -> bool:
    """True when objects and arrays nest more than `limit` levels deep (level by level, stops at the first
    level past the limit)."""
    level = [document]
    depth = 1
    while level:
        if depth > limit:
            return True
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, dict) else value if isinstance(value, list) else ())
            if isinstance(child, (dict, list))
        ]
        depth += 1
    return False


#: A JSON `\uD800`…`\uDFFF` escape: json.loads turns an unpaired one into a lone surrogate, which no UTF-8
#: encoder (event ids, stores, sinks) accepts.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def scrub_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_surrogates(v) for v in value]
    return value

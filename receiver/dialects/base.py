"""The contract every provider dialect fulfils.

A dialect is the only place that knows a provider's field names. The ingest pipeline calls, in order:
`verify` on the raw request (before anything trusts the body), `decode` on the body bytes, and `normalize`
on the decoded document. `detect` lets the `auto` source pick a dialect from the body's shape.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from receiver.model import Event, Origin, Provider


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


def decode_json(body: bytes) -> Any:
    """Parse a JSON body, or raise `Unidentifiable` saying what is wrong with it."""
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


def nesting_exceeds(document: Any, limit: int) -> bool:
    """True when objects and arrays nest more than `limit` levels deep (iterative, stops at the first)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
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

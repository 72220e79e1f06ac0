"""Moving captures between instances and sending them again: export, import, prune, replay.

A capture is exported as one JSON object per line (`capture_record`): everything needed to replay it or to
import it elsewhere, the body base64-encoded because it is bytes exactly as received. Import keeps the
original received time, headers, body and verification, and leaves the capture pending, so it is processed
like a fresh ingest; event ids are content hashes, so importing or replaying the same capture twice changes
nothing. Replay re-sends the original bytes with the original headers (minus hop-by-hop ones); `--resign`
re-makes the provider signature with the target source's key and a fresh timestamp, because provider
signatures expire (and a staging stack has its own keys).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

from receiver.dialects.aliyun_vod.verify import SIGNATURE_HEADER as ALIYUN_SIGNATURE
from receiver.dialects.aliyun_vod.verify import TIMESTAMP_HEADER as ALIYUN_TIMESTAMP
from receiver.dialects.aliyun_vod.verify import sign as aliyun_sign
from receiver.dialects.base import SigningPolicy
from receiver.dialects.tencent_mps.verify import sign as mps_sign
from receiver.dialects.tencent_vod_v3.verify import EXPIRY_FIELD as VOD3_EXPIRY
from receiver.dialects.tencent_vod_v3.verify import SIGN_FIELD as VOD3_SIGN
from receiver.dialects.tencent_vod_v3.verify import sign as vod3_sign
from receiver.dialects.tencent_vod_v3.verify import signature_fields as vod3_signature_fields
from receiver.model import Origin
from receiver.store.base import Capture, CaptureFilter, CaptureState, EventFilter, NewCapture, Store

#: Headers that describe one hop of a request, not the callback: httpx sets its own.
HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
        "expect",
    }
)
#: How long a re-made signature stays valid, as the providers do by default (10 minutes).
SIGNATURE_VALIDITY_S = 600
_PAGE = 500


class BadRecord(ValueError):
    """A line of an export file is not a capture; the message names the line and the field."""


# the export format ---------------------------------------------------------------------------------------


def capture_record(capture: Capture) -> dict[str, Any]:
    """One capture as a JSON-ready object (one line of an export file)."""
    return {
        "id": capture.id,
        "source": capture.source,
        "dialect": capture.dialect,
        "origin": capture.origin.value,
        "received_at": capture.received_at.isoformat(),
        "remote": capture.remote,
        "method": capture.method,
        "path": capture.path,
        "query": capture.query,
        "headers": capture.headers,
        "body": base64.b64encode(capture.body).decode("ascii"),
        "verification": capture.verification,
        "verification_reason": capture.verification_reason,
        "state": capture.state.value,
        "error": capture.error,
        "event_ids": list(capture.event_ids),
    }


def parse_record(record: Any, where: str = "record") -> Capture:
    """The capture a `capture_record` object describes; `BadRecord` names the field that is wrong."""
    if not isinstance(record, dict):
        raise BadRecord(f"{where}: expected a JSON object, got {type(record).__name__}")

    def text(name: str, default: str | None = None) -> str:
        value = record.get(name, default)
        if not isinstance(value, str):
            raise BadRecord(f"{where}: field {name!r} must be a string, got {value!r}")
        return value

    def optional_text(name: str) -> str | None:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRecord(f"{where}: field {name!r} must be a string or null, got {value!r}")
        return value

    try:
        received_at = datetime.fromisoformat(text("received_at"))
    except ValueError as exc:
        raise BadRecord(f"{where}: field 'received_at' is not an ISO-8601 time: {record['received_at']!r}") from exc
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    try:
        body = base64.b64decode(text("body"), validate=True)
    except binascii.Error as exc:
        raise BadRecord(f"{where}: field 'body' is not base64: {exc}") from exc
    headers = record.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise BadRecord(f"{where}: field 'headers' must be an object of strings, got {headers!r}")
    try:
        origin = Origin(text("origin", Origin.CALLBACK.value))
        state = CaptureState(text("state", CaptureState.PENDING.value))
    except ValueError as exc:
        raise BadRecord(f"{where}: {exc}") from exc
    capture_id = record.get("id", 0)
    event_ids = record.get("event_ids", [])
    return Capture(
        source=text("source"),
        dialect=text("dialect"),
        origin=origin,
        received_at=received_at,
        remote=optional_text("remote"),
        method=text("method", "POST"),
        path=text("path", ""),
        query=text("query", ""),
        headers=dict(headers),
        body=body,
        verification=text("verification"),
        verification_reason=optional_text("verification_reason"),
        id=capture_id if isinstance(capture_id, int) else 0,
        state=state,
        error=optional_text("error"),
        event_ids=tuple(str(i) for i in event_ids) if isinstance(event_ids, list) else (),
    )


def read_records(lines: Iterable[str], name: str = "input") -> Iterator[Capture]:
    """Captures from the lines of an export file (blank lines skipped)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRecord(f"{name} line {number}: not JSON: {exc}") from exc
        yield parse_record(record, f"{name} line {number}")


# selecting captures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which stored captures an export or a replay takes (all filters together)."""

    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    task_id: str | None = None
    states: tuple[CaptureState, ...] = ()

    def matches(self, capture: Capture) -> bool:
        return (
            (self.source is None or capture.source == self.source)
            and (self.since is None or capture.received_at >= self.since)
            and (self.until is None or capture.received_at < self.until)
            and (not self.states or capture.state in self.states)
        )


async def select_captures(store: Store, selection: Selection) -> AsyncIterator[Capture]:
    """Matching captures, oldest first. With `task_id`: the captures that brought that task's events."""
    if selection.task_id is not None:
        ids: set[int] = set()
        before: int | None = None
        while True:
            events = await store.list_events(EventFilter(task_id=selection.task_id, before_seq=before, limit=_PAGE))
            ids.update(item.event.capture_id for item in events if item.event.capture_id is not None)
            if len(events) < _PAGE:
                break
            before = events[-1].seq
        for capture_id in sorted(ids):
            found = await store.get_capture(capture_id)
            if found is not None and selection.matches(found):
                yield found
        return
    after = 0
    while True:
        filt = CaptureFilter(
            source=selection.source, since=selection.since, until=selection.until, after_id=after, limit=_PAGE
        )
        page = await store.list_captures(filt)
        for capture in page:
            if selection.matches(capture):
                yield capture
        if len(page) < _PAGE:
            return
        after = page[-1].id


async def export_captures(store: Store, selection: Selection, out: IO[str]) -> int:
    """Write matching captures to `out` as JSON Lines, oldest first; return how many."""
    count = 0
    async for capture in select_captures(store, selection):
        out.write(json.dumps(capture_record(capture), ensure_ascii=False) + "\n")
        count += 1
    return count


@dataclass
class ImportResult:
    imported: list[int] = field(default_factory=list)
    already_here: int = 0


async def import_captures(store: Store, captures: Iterable[Capture]) -> ImportResult:
    """Store captures from another instance as they were received; pending (or refused) until processed."""
    result = ImportResult()
    for capture in captures:
        new = NewCapture(
            source=capture.source,
            dialect=capture.dialect,
            received_at=capture.received_at,
            method=capture.method,
            path=capture.path,
            query=capture.query,
            headers=dict(capture.headers),
            body=capture.body,
            remote=capture.remote,
            verification=capture.verification,
            verification_reason=capture.verification_reason,
            origin=capture.origin,
        )
        capture_id = await store.import_capture(new)
        if capture_id is None:
            result.already_here += 1
        else:
            result.imported.append(capture_id)
    return result


# re-signing ----------------------------------------------------------------------------------------------


def resign(capture: Capture, policy: SigningPolicy, now: float) -> tuple[dict[str, str], bytes]:
    """Headers and body of `capture` signed again with the policy's first key at unix time `now`.

    Alibaba signs headers (over the target's `public_url`); MPS and VOD 3.0 sign top-level body fields (VOD
    3.0 in headers when the original carried them there). Those fields are receipt data that no event
    keeps, so a re-signed callback keeps its event ids. Legacy VOD v2 is unsigned, and a body that is not a
    JSON object cannot carry a signature: both go unchanged. Raises ValueError when the policy has no key
    (or, for Alibaba, no public_url), naming what is missing.
    """
    headers = dict(capture.headers)
    if capture.dialect not in ("aliyun-vod", "tencent-mps", "tencent-vod-v3"):
        return headers, capture.body
    if not policy.keys:
        raise ValueError(f"--resign: the target source {capture.source!r} has no signing key")
    key = policy.keys[0]
    stamp = int(now)
    if capture.dialect == "aliyun-vod":
        if not policy.public_url:
            raise ValueError(f"--resign: the target source {capture.source!r} has no public_url (Alibaba signs it)")
        headers = {k: v for k, v in headers.items() if k.lower() not in ("x-vod-timestamp", "x-vod-signature")}
        headers[ALIYUN_TIMESTAMP] = str(stamp)
        headers[ALIYUN_SIGNATURE] = aliyun_sign(policy.public_url, stamp, key)
        return headers, capture.body
    expiry = stamp + SIGNATURE_VALIDITY_S
    try:
        document = json.loads(capture.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return headers, capture.body
    if not isinstance(document, dict):
        return headers, capture.body
    if capture.dialect == "tencent-mps":
        document["Timestamp"] = expiry
        document["Sign"] = mps_sign(key, expiry)
    else:
        lowered = {k.lower() for k in headers}
        in_headers = "sign" in lowered and not (VOD3_SIGN in document or VOD3_EXPIRY in document)
        if in_headers:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("sign", "t")}
            headers[VOD3_SIGN] = vod3_sign(key, expiry)
            headers[VOD3_EXPIRY] = str(expiry)
            return headers, capture.body
        document.update(vod3_signature_fields(key, expiry))
    return headers, json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


# replay --------------------------------------------------------------------------------------------------


@dataclass
class ReplaySummary:
    """What a replay did. `selected` counts captures considered; a dry run sends none of them."""

    selected: int = 0
    sent: int = 0
    accepted: int = 0  # 2xx
    refused: int = 0  # 401: the target's signature check failed
    failed: int = 0  # any other answer, or no answer
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "sent": self.sent,
            "accepted": self.accepted,
            "refused": self.refused,
            "failed": self.failed,
            "errors": dict(self.errors),
        }


def target_url(to: str, source: str) -> str:
    """Where a capture of `source` goes: `to` with `{source}` filled in, `<to>/callbacks/<source>` when `to` is
    a bare base URL, else `to` exactly."""
    if "{source}" in to:
        return to.replace("{source}", source)
    if urlsplit(to).path in ("", "/"):
        return f"{to.rstrip('/')}/callbacks/{source}"
    return to


def outgoing_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The original headers minus hop-by-hop ones."""
    return {name: value for name, value in headers.items() if name.lower() not in HOP_BY_HOP}


@dataclass(frozen=True)
class ReplayOptions:
    to: str
    rate: float | None = None  # requests per second, overall
    concurrency: int = 1  # above 1, callbacks may arrive out of their original order
    dry_run: bool = False
    #: Per target source: the policy to re-sign with; None sends the original signatures.
    resign_with: Callable[[str], SigningPolicy] | None = None
    #: Send every capture to this source instead of its own (e.g. a staging source with other keys).
    to_source: str | None = None
    timeout_s: float = 30.0


Progress = Callable[[ReplaySummary], None]


async def replay(
    captures: Iterable[Capture] | AsyncIterator[Capture],
    options: ReplayOptions,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
) -> ReplaySummary:
    """Send captures to the target in order of arrival, at most `concurrency` at once and `rate` per second."""
    if options.concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {options.concurrency}")
    if options.rate is not None and not options.rate > 0:
        raise ValueError(f"rate must be > 0 per second, got {options.rate}")
    summary = ReplaySummary()
    queue: asyncio.Queue[Capture | None] = asyncio.Queue(options.concurrency * 2)
    started = time.monotonic()
    ticket = 0

    async def pace() -> None:
        nonlocal ticket
        if options.rate is None:
            return
        due = started + ticket / options.rate
        ticket += 1
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def send(client: httpx.AsyncClient, capture: Capture) -> None:
        source = options.to_source or capture.source
        target = replace(capture, source=source)
        headers, body = target.headers, target.body
        if options.resign_with is not None:
            headers, body = resign(target, options.resign_with(source), clock())
        await pace()
        summary.sent += 1
        try:
            response = await client.request(
                capture.method or "POST",
                target_url(options.to, source),
                content=body,
                headers=outgoing_headers(headers),
                params=capture.query or None,
            )
        except httpx.HTTPError as exc:
            summary.failed += 1
            kind = type(exc).__name__
            summary.errors[kind] = summary.errors.get(kind, 0) + 1
            return
        if 200 <= response.status_code < 300:
            summary.accepted += 1
        elif response.status_code == 401:
            summary.refused += 1
        else:
            summary.failed += 1
            kind = f"HTTP {response.status_code}"
            summary.errors[kind] = summary.errors.get(kind, 0) + 1

    async def worker(client: httpx.AsyncClient) -> None:
        while (capture := await queue.get()) is not None:
            await send(client, capture)
            if progress is not None:
                progress(summary)

    async def feed() -> None:
        if isinstance(captures, AsyncIterator):
            async for capture in captures:
                summary.selected += 1
                await queue.put(capture)
        else:
            for capture in captures:
                summary.selected += 1
                await queue.put(capture)

    if options.dry_run:
        if isinstance(captures, AsyncIterator):
            async for _ in captures:
                summary.selected += 1
        else:
            summary.selected = sum(1 for _ in captures)
        return summary
    async with httpx.AsyncClient(timeout=options.timeout_s) as client:
        workers = [asyncio.create_task(worker(client)) for _ in range(options.concurrency)]
        try:
            await feed()
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
    return summary


def resign_policies(
    sources: Mapping[str, Any], key: str | None, public_url: str | None
) -> Callable[[str], SigningPolicy]:
    """The policy `--resign` uses for a target source: its configured keys and public_url, unless overridden."""

    def policy(source: str) -> SigningPolicy:
        configured = sources.get(source)
        base: SigningPolicy = configured.signing_policy() if configured is not None else SigningPolicy()
        return SigningPolicy(
            keys=(key,) if key else base.keys,
            public_url=public_url or base.public_url,
            tolerance_s=base.tolerance_s,
        )

    return policy

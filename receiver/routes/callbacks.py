"""`POST /callbacks/{source}`: read the raw body within the limit, then hand it to the pipeline.

Answers: 200 once the capture is committed (also for bodies we cannot parse: they are quarantined, and a
re-send would not help), 401 for a failed signature (kept as a refused capture), 404 for an unknown source,
413 for an oversized body (a refusal record keeps its headers, size and first bytes), 503 when the store
cannot take the write (providers that honour status codes retry).
"""

from __future__ import annotations

import logging
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from receiver.dialects.base import RawCallback
from receiver.ingest import Pipeline
from receiver.store.base import Refusal, StoreUnavailable

log = logging.getLogger("vodhook.callbacks")


class _TooLarge(Exception):
    def __init__(self, head: bytes, size: int) -> None:
        self.head = head
        self.size = size


async def read_limited(request: Request, limit: int, keep: int) -> bytes:
    """The whole body, or `_TooLarge` with its first `keep` bytes once it passes `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        head = bytearray()
        async for chunk in request.stream():
            head += chunk[: max(0, keep - len(head))]
            if len(head) >= keep:
                break
        raise _TooLarge(bytes(head), int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            size = len(body)
            async for more in request.stream():
                size += len(more)
            raise _TooLarge(bytes(body[:keep]), size)
    return bytes(body)


class _RefusalLog:
    """Logs refused callbacks at most once a second per source (a flood must not flood the log)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def refused(self, source: str, reason: str | None) -> None:
        now = time.monotonic()
        if now - self.last.get(source, 0.0) < 1.0:
            self.suppressed[source] = self.suppressed.get(source, 0) + 1
            return
        skipped = self.suppressed.pop(source, 0)
        self.last[source] = now
        log.warning("refused a callback on source %r: %s (%d more refused since last log)", source, reason, skipped)


_refusal_log = _RefusalLog()


async def receive_callback(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    settings = request.app.state.settings
    source = request.path_params["source"]
    if source not in pipeline.sources:
        return JSONResponse({"error": f"unknown source {source!r}", "sources": sorted(pipeline.sources)}, 404)
    received_at = pipeline.clock.now()
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in request.scope["headers"]}
    remote = request.client.host if request.client else None
    try:
        body = await read_limited(request, settings.max_body_bytes, settings.refusals.head_bytes)
    except _TooLarge as too_large:
        refusal = Refusal(
            source=source,
            received_at=received_at,
            remote=remote,
            reason=f"body of {too_large.size} bytes is over the limit of {settings.max_body_bytes}",
            headers=headers,
            body_size=too_large.size,
            body_head=too_large.head,
        )
        try:
            await pipeline.store.refuse(refusal)
        except StoreUnavailable:
            log.error("could not record an oversized callback on %r", source)
        return JSONResponse({"error": refusal.reason}, 413)
    except ClientDisconnect:
        return Response(status_code=400)
    raw = RawCallback(
        source=source,
        body=body,
        headers=headers,
        received_at=received_at,
        remote=remote,
        method=request.method,
        path=request.scope["path"],  # not request.url: building a URL costs more than the rest of the request
        query=request.scope["query_string"].decode("latin-1"),
    )
    try:
        receipt = await pipeline.receive(raw)
    except StoreUnavailable as exc:
        log.error("store unavailable, answering 503: %s", exc)
        return JSONResponse({"error": "store unavailable, try again"}, 503)
    if not receipt.verification.accepted:
        request.app.state.counters["refused_signature"] += 1
        _refusal_log.refused(source, receipt.verification.reason)
        return JSONResponse({"error": "signature check failed", "reason": receipt.verification.reason}, 401)
    return Response(b'{"status":"accepted","capture_id":%d}' % receipt.capture_id, media_type="application/json")

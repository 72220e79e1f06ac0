"""The webhook sink's own promises: Standard Webhooks signatures, and what each kind of answer leads to."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import threading
import time
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.responses import Response

from receiver.config import ConfigError, SinkSettings, load_settings
from receiver.outbox import make_sink
from receiver.sinks.base import Delivery, SendResult
from receiver.sinks.http import HttpSink
from receiver.store.base import OutboxFilter, OutboxMessage, OutboxState
from tests.conftest import RunningReceiver, serve_in_thread
from tests.sinks.helpers import WebhookEndpoint, WebhookRequest, legacy_callback, on_loop, post_callbacks, wait_until

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def hmac_key() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def ed25519_pair() -> tuple[str, Ed25519PublicKey]:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    return "whsk_" + base64.b64encode(seed).decode(), private.public_key()


@pytest.fixture
def endpoint() -> Iterator[WebhookEndpoint]:
    with WebhookEndpoint() as running:
        yield running


@pytest.fixture
def start(tmp_path: Path, endpoint: WebhookEndpoint) -> Iterator[Any]:
    started: list[RunningReceiver] = []

    def run(**sink: Any) -> RunningReceiver:
        config = {
            "type": "http",
            "url": f"http://127.0.0.1:{endpoint.port}/hook",
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
            "poll_s": 0.1,
            **sink,
        }
        running = serve_in_thread(load_settings(data_dir=tmp_path / "data", sinks={"hook": config}))
        started.append(running)
        return running

    yield run
    for running in started:
        running.stop()


def delivery(n: int, task: str) -> Delivery:
    message = {"schema_version": 1, "event_id": f"e{n}", "event_type": "X", "provider": "p", "task_id": task}
    return Delivery.of(OutboxMessage(n, "hook", f"e{n}", "p", task, 1, message, "pending", 0, T0))


def outbox(receiver: RunningReceiver, state: OutboxState) -> list[OutboxMessage]:
    store = receiver.app.state.pipeline.store
    return on_loop(receiver, store.list_outbox(OutboxFilter(sink="hook", state=state)))


def test_signatures_verify_with_standard_webhooks_for_every_key(start: Any, endpoint: WebhookEndpoint) -> None:
    current, previous = hmac_key(), hmac_key()
    signing_key, public_key = ed25519_pair()
    receiver = start(keys=[current, previous, signing_key])
    post_callbacks(receiver, [legacy_callback("task-sig", "FINISH")])
    wait_until(lambda: len(endpoint.accepted()) == 1, "one signed webhook")
    request = endpoint.accepted()[0]
    message = json.loads(request.body)
    headers = request.headers
    assert headers["webhook-id"] == message["event_id"]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300

    # HMAC-SHA256 (v1): the reference library accepts the request under each of the rotated secrets
    for secret in (current, previous):
        assert Webhook(secret).verify(request.body, headers) == message
    with pytest.raises(WebhookVerificationError):
        Webhook(hmac_key()).verify(request.body, headers)

    # Ed25519 (v1a): the Python reference library (1.1) verifies v1 only and skips v1a entries, so the
    # asymmetric signature is checked against the public key with cryptography, over the same signed content
    signatures = headers["webhook-signature"].split(" ")
    assert [entry.split(",", 1)[0] for entry in signatures] == ["v1", "v1", "v1a"]
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request.body
    public_key.verify(base64.b64decode(signatures[2].split(",", 1)[1]), content)
    tampered = content.replace(b'"task-sig"', b'"task-bad"')
    with pytest.raises(InvalidSignature):
        public_key.verify(base64.b64decode(signatures[2].split(",", 1)[1]), tampered)
    assert headers["vodhook-event-id"] == message["event_id"]
    assert headers["content-type"] == "application/json"


def test_a_64_byte_ed25519_key_signs_like_its_seed() -> None:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    long_form = "whsk_" + base64.b64encode(seed + public).decode()
    short_form = "whsk_" + base64.b64encode(seed).decode()
    for key in (long_form, short_form):
        sink = make_sink("hook", SinkSettings(type="http", url="http://127.0.0.1:9/hook", keys=[key]), Path("."))
        assert isinstance(sink, HttpSink)
        signature = sink.keys[0].sign(b"id.1.{}")
        private.public_key().verify(base64.b64decode(signature.split(",", 1)[1]), b"id.1.{}")


@pytest.mark.parametrize("key", ["secret", "whsec_" + base64.b64encode(b"short").decode(), "whsk_AAAA"])
def test_a_bad_key_is_a_config_error_naming_it(key: str) -> None:
    settings = SinkSettings(type="http", url="http://127.0.0.1:9/hook", keys=[hmac_key(), key])
    with pytest.raises(ConfigError, match=r"sinks\.hook\.keys\[1\]"):
        make_sink("hook", settings, Path("."))


def test_a_4xx_is_a_dead_letter_at_once_and_holds_back_nothing(start: Any, endpoint: WebhookEndpoint) -> None:
    def answer(request: WebhookRequest) -> Response:
        version = json.loads(request.body)["version"]
        return Response("no such thing", status_code=422) if version == 1 else Response(status_code=200)

    endpoint.answer = answer
    receiver = start()
    post_callbacks(receiver, [legacy_callback("task-4xx", s) for s in ("WAITING", "PROCESSING")])
    wait_until(lambda: len(endpoint.accepted()) == 1, "the second message")
    assert json.loads(endpoint.accepted()[0].body)["version"] == 2
    [dead] = outbox(receiver, OutboxState.DEAD)
    assert dead.attempts == 1 and dead.version == 1
    assert "HTTP 422" in (dead.last_error or "") and "refused" in (dead.last_error or "")


def test_5xx_429_and_timeouts_are_retried(start: Any, endpoint: WebhookEndpoint) -> None:
    answers = iter(["503", "429", "slow", "ok"])
    lock = threading.Lock()

    def answer(request: WebhookRequest) -> Response | Awaitable[Response]:
        with lock:
            kind = next(answers, "ok")
        if kind == "503":
            return Response(status_code=503)
        if kind == "429":
            return Response(status_code=429, headers={"retry-after": "0"})
        if kind == "slow":
            return slow()
        return Response(status_code=200)

    async def slow() -> Response:
        await asyncio.sleep(1.0)  # past the sink's timeout: the attempt counts as failed, and is retried
        return Response(status_code=200)

    endpoint.answer = answer
    receiver = start(timeout_s=0.3)
    post_callbacks(receiver, [legacy_callback("task-5xx", "FINISH")])
    wait_until(lambda: len(outbox(receiver, OutboxState.DELIVERED)) == 1, "delivery after three failures")
    [delivered] = outbox(receiver, OutboxState.DELIVERED)
    assert delivered.attempts == 4
    assert "timed out" in (delivered.last_error or "")
    assert not outbox(receiver, OutboxState.DEAD)


def test_max_attempts_makes_a_dead_letter(start: Any, endpoint: WebhookEndpoint) -> None:
    endpoint.answer = lambda request: Response(status_code=500)
    receiver = start(max_attempts=3)
    post_callbacks(receiver, [legacy_callback("task-500", "FINISH")])
    wait_until(lambda: len(outbox(receiver, OutboxState.DEAD)) == 1, "a dead letter")
    [dead] = outbox(receiver, OutboxState.DEAD)
    assert dead.attempts == 3 and "3 attempts" in (dead.last_error or "")


def test_a_batch_goes_out_with_exactly_concurrency_requests_in_flight(endpoint: WebhookEndpoint) -> None:
    """The sink spreads requests over several small connection pools; together they hold `concurrency`.

    The endpoint holds every request until `concurrency` are in flight at once (or a deadline passes), and a
    moment more, so a sink that allowed fewer would stall and show a lower peak, and one that allowed more a
    higher one.
    """
    concurrency = 6  # not a multiple of the pool size: uneven pools must still add up
    in_flight = 0
    peak = 0
    full: asyncio.Event | None = None

    async def hold() -> Response:
        nonlocal in_flight, peak, full
        full = full or asyncio.Event()
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= concurrency:
            full.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(full.wait(), 10.0)
            await asyncio.sleep(0.1)  # room for a request beyond the limit to show up
        finally:
            in_flight -= 1
        return Response(status_code=200)

    endpoint.answer = lambda request: hold()

    async def deliver() -> list[SendResult]:
        sink = HttpSink("hook", f"http://127.0.0.1:{endpoint.port}/hook", keys=[], timeout_s=30.0, concurrency=6)
        try:
            return await sink.send([delivery(n, f"task-{n}") for n in range(20)])
        finally:
            await sink.close()

    results = asyncio.run(deliver())
    assert results == [None] * 20
    assert peak == concurrency
    assert len(endpoint.accepted()) == 20

"""NATS JetStream sink: each message is published to `<subject>.<task id>` and waits for the stream's ack.

`Nats-Msg-Id` is the event id, so JetStream drops a re-send of the same delivery inside its duplicate
window (a retry after a lost ack stores nothing twice). A deliberate redelivery (`vodhook outbox
redeliver`) must not be dropped, so it is `<event id>:<delivery id>`. Every message header travels as a
NATS header. The stream is created (subjects `<subject>.>`) when it does not exist. A subject per task keeps
a task's messages in order for a consumer that filters on it; the stream orders them all anyway.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext

from receiver.sinks.base import Delivery, DeliveryFailed, SendResult, Sink, SinkDown

log = logging.getLogger("vodhook.sinks.nats")
_NOT_IN_TOKEN = re.compile(r"[\s.*>]")
_CONNECTION_ERRORS = (
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    OSError,
)


def subject_token(key: str) -> str:
    """A task id as one subject token (dots, wildcards and spaces would split or widen the subject)."""
    return _NOT_IN_TOKEN.sub("_", key) or "_"


class NatsSink(Sink):
    def __init__(self, name: str, url: str, stream: str, subject: str, *, timeout_s: float) -> None:
        super().__init__(name)
        self.url = url
        self.stream = stream
        self.subject = subject
        self.timeout_s = timeout_s
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None

    async def _connect(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        await self.close()

        async def report(exc: Exception) -> None:
            log.warning("sink %s: nats: %s: %s", self.name, type(exc).__name__, exc)

        # no client-side reconnection: a lost connection fails the batch and the dispatcher decides when to retry
        nc = NatsClient()
        try:
            await nc.connect(
                self.url,
                allow_reconnect=False,
                connect_timeout=max(1, round(self.timeout_s)),
                max_reconnect_attempts=0,
                error_cb=report,
            )
        except BaseException:
            await _close_quietly(nc)  # a failed connect leaves its socket open otherwise
            raise
        self._nc = nc
        self._js = self._nc.jetstream(timeout=self.timeout_s)
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(name=self.stream, subjects=[f"{self.subject}.>"])
        return self._js

    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        try:
            js = await self._connect()
        except (*_CONNECTION_ERRORS, TimeoutError, nats.errors.Error) as exc:
            await self.close()
            raise SinkDown(f"nats {self.url}: {type(exc).__name__}: {exc}") from exc
        outcomes = await asyncio.gather(*(self._publish(js, delivery) for delivery in batch), return_exceptions=True)
        results: list[SendResult] = []
        lost = 0
        for outcome in outcomes:
            if isinstance(outcome, _CONNECTION_ERRORS):
                lost += 1
                results.append(DeliveryFailed(f"nats connection lost: {type(outcome).__name__}"))
            elif isinstance(outcome, TimeoutError | nats.errors.Error | nats.js.errors.Error):
                results.append(DeliveryFailed(f"nats publish: {type(outcome).__name__}: {outcome}"))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append(None)
        if lost:
            await self.close()
            if lost == len(batch):
                raise SinkDown(f"nats {self.url}: connection lost")
        return results

    async def _publish(self, js: JetStreamContext, delivery: Delivery) -> None:
        headers = dict(delivery.headers)
        msg_id = delivery.event_id
        if delivery.outbox.redelivery:
            msg_id = f"{msg_id}:{delivery.outbox.delivery_id}"
        headers["Nats-Msg-Id"] = msg_id
        subject = f"{self.subject}.{subject_token(delivery.order_key)}"
        await js.publish(subject, delivery.body, timeout=self.timeout_s, stream=self.stream, headers=headers)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            await _close_quietly(nc)


async def _close_quietly(nc: NatsClient) -> None:
    """Close a client in whatever state it is; closing a broken connection must not fail the dispatcher."""
    try:
        if not nc.is_closed:
            await nc.close()
        transport = getattr(nc, "_transport", None)
        if transport is not None:
            transport.close()
    except Exception as exc:
        log.debug("closing a nats client: %s", exc)

"""RabbitMQ sink: persistent messages on a durable topic exchange, each confirmed by the broker.

The routing key is the task id, so a queue bound with `#` (or a pattern) receives a task's messages in the
order they were published. Publisher confirms make a message count as delivered only once the broker has
taken responsibility for it; `mandatory` makes an unroutable message (no queue bound) a failure that is
retried, rather than one RabbitMQ drops silently. Headers go in the AMQP headers table; the event id is
also the message id, the event type the message type. `queue` optionally declares a durable queue bound
to the exchange with `#`, so nothing is dropped before a consumer declares its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from yarl import URL

from receiver.sinks.base import Delivery, DeliveryFailed, SendResult, Sink, SinkDown

log = logging.getLogger("vodhook.sinks.rabbitmq")
_CONNECTION_ERRORS = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    aiormq.exceptions.ChannelClosed,
    ConnectionError,
    OSError,
)


class RabbitMqSink(Sink):
    def __init__(self, name: str, url: str, exchange: str, *, queue: str | None, timeout_s: float) -> None:
        super().__init__(name)
        self.url = url
        self.exchange_name = exchange
        self.queue = queue
        self.timeout_s = timeout_s
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def _connect(self) -> AbstractExchange:
        if self._exchange is not None and self._channel is not None and not self._channel.is_closed:
            return self._exchange
        await self.close()
        connection = aio_pika.Connection(URL(self.url))
        try:
            await connection.connect(timeout=self.timeout_s)
        except BaseException:
            await connection.close()  # else its finalizer schedules a close on a loop that may be gone
            raise
        self._connection = connection
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await self._channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True, timeout=self.timeout_s
        )
        if self.queue:
            queue = await self._channel.declare_queue(self.queue, durable=True, timeout=self.timeout_s)
            await queue.bind(exchange, routing_key="#", timeout=self.timeout_s)
        self._exchange = exchange
        return exchange

    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        try:
            exchange = await self._connect()
        except Exception as exc:
            # Whatever stops the connection or the declarations, nothing of the batch was sent: the sink is
            # down. Not only AMQP errors: aiormq raises StopAsyncIteration when the peer closes before its
            # Connection.Start (a proxy or load balancer in front of a stopped broker, a broker starting up),
            # and an exception other than SinkDown would keep the whole batch leased (2 x timeout_s + 30 s).
            await self.close()
            raise SinkDown(f"rabbitmq {self.exchange_name}: {_describe(exc)}") from exc
        # publish in batch order (frames go out as each coroutine starts), then await all the confirms
        outcomes = await asyncio.gather(*(self._publish(exchange, d) for d in batch), return_exceptions=True)
        results: list[SendResult] = []
        lost = 0
        reconnect = False
        for outcome in outcomes:
            if isinstance(outcome, _CONNECTION_ERRORS):
                lost += 1
                results.append(DeliveryFailed(f"rabbitmq connection lost: {_describe(outcome)}"))
            elif isinstance(outcome, TimeoutError | aiormq.exceptions.AMQPError):
                results.append(DeliveryFailed(f"rabbitmq publish not confirmed: {_describe(outcome)}"))
            elif isinstance(outcome, Exception):
                # unforeseen (a client library quirk): fail this message alone, rather than the batch staying
                # leased, and start the next batch on a fresh connection rather than trust this one's state
                reconnect = True
                results.append(DeliveryFailed(f"rabbitmq publish failed: {_describe(outcome)}"))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append(None)
        if lost or reconnect:
            await self.close()
            if lost == len(batch):
                raise SinkDown(f"rabbitmq {self.exchange_name}: connection lost")
        return results

    async def _publish(self, exchange: AbstractExchange, delivery: Delivery) -> None:
        message = aio_pika.Message(
            delivery.body,
            headers=dict(delivery.headers),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=delivery.event_id,
            type=delivery.headers.get("event-type"),
            app_id="vodhook",
        )
        await exchange.publish(message, routing_key=delivery.order_key[:255], mandatory=True, timeout=self.timeout_s)

    async def close(self) -> None:
        connection, self._connection, self._channel, self._exchange = self._connection, None, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except Exception as exc:  # closing a broken connection must not fail the dispatcher
                log.debug("sink %s: closing rabbitmq: %s", self.name, exc)


def _describe(exc: BaseException) -> str:
    """The exception's type, and its message when it has one (a TimeoutError or StopAsyncIteration has none)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

"""What is particular to the RabbitMQ sink, against the machine's RabbitMQ (the contract is in test_sink_contract.py).

Each test uses an exchange and a queue unique to it, deleted afterwards. Per-message outcomes come from the
broker itself: a message no queue is bound for comes back (`mandatory`), and a full queue with
`x-overflow = reject-publish` nacks the publishes it cannot take.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
import uvloop

from receiver.sinks.base import Delivery, DeliveryFailed, SendResult, SinkDown
from receiver.sinks.rabbitmq import RabbitMqSink
from receiver.store.base import OutboxMessage
from tests.services import require_service

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BROKER = "amqp://guest:guest@127.0.0.1:5672/"


def delivery(n: int, task: str) -> Delivery:
    message = {
        "schema_version": 1,
        "event_id": f"e{n}",
        "event_type": "X",
        "provider": "tencent-vod",
        "task_id": task,
        "version": n,
    }
    return Delivery.of(OutboxMessage(n, "events", f"e{n}", "tencent-vod", task, n, message, "pending", 0, T0))


class Broker:
    """An exchange and a queue of the test's own on the machine's RabbitMQ."""

    def __init__(self) -> None:
        self.name = f"vodhook-test-{uuid.uuid4().hex}"

    async def declare(self, bindings: list[str], arguments: dict[str, Any] | None = None) -> None:
        connection = await aio_pika.connect(BROKER)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self.name, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(self.name, durable=True, arguments=arguments)
            for key in bindings:
                await queue.bind(exchange, routing_key=key)

    async def received(self) -> list[str]:
        """The task ids of the messages in the queue, in queue order."""
        found = []
        connection = await aio_pika.connect(BROKER)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(self.name, ensure=False)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                found.append(str(message.routing_key))
        return found

    async def delete(self) -> None:
        connection = await aio_pika.connect(BROKER)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.name)
            await channel.exchange_delete(self.name)


@pytest.fixture
def broker() -> Iterator[Broker]:
    require_service("rabbitmq")
    made = Broker()
    yield made
    asyncio.run(made.delete())


async def send_once(sink: RabbitMqSink, batch: list[Delivery]) -> list[SendResult]:
    try:
        return await sink.send(batch)
    finally:
        await sink.close()


def test_a_returned_message_fails_alone_and_the_rest_of_the_batch_is_delivered(broker: Broker) -> None:
    asyncio.run(broker.declare(["task-a", "task-c"]))  # nothing is bound for task-b: the broker returns it
    sink = RabbitMqSink("events", BROKER, broker.name, queue=None, timeout_s=5.0)
    batch = [delivery(1, "task-a"), delivery(2, "task-b"), delivery(3, "task-c")]

    results = asyncio.run(send_once(sink, batch))

    assert results[0] is None and results[2] is None, results
    failed = results[1]
    assert isinstance(failed, DeliveryFailed) and not failed.permanent, results
    assert "not confirmed" in failed.reason and "PublishError" in failed.reason, failed.reason
    assert asyncio.run(broker.received()) == ["task-a", "task-c"]


def test_a_nacked_message_fails_alone_and_the_rest_of_the_batch_is_delivered(broker: Broker) -> None:
    # a queue that holds two messages and nacks the publishes beyond them
    asyncio.run(broker.declare(["#"], {"x-max-length": 2, "x-overflow": "reject-publish"}))
    sink = RabbitMqSink("events", BROKER, broker.name, queue=None, timeout_s=5.0)
    batch = [delivery(1, "task-a"), delivery(2, "task-b"), delivery(3, "task-c")]

    results = asyncio.run(send_once(sink, batch))

    # the publishes go out in batch order, so the queue takes the first two and refuses the third
    assert results[:2] == [None, None], results
    nacked = results[2]
    assert isinstance(nacked, DeliveryFailed) and "DeliveryError" in nacked.reason, results
    assert asyncio.run(broker.received()) == ["task-a", "task-b"]


# a peer that closes every connection at once -------------------------------------------------------------


class ClosingServer:
    """Accepts TCP connections and closes each at once, as a proxy or load balancer in front of a stopped broker."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.05)  # (closing the socket would not wake an accept() blocked in the thread)
        self.port: int = self.socket.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True, name="test-closing-server")

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            connection.close()

    def __enter__(self) -> ClosingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.socket.close()


def test_a_peer_closing_before_the_handshake_is_a_sink_down_on_uvloop() -> None:
    """On uvloop (what `vodhook serve` runs on), aiormq mostly raises StopAsyncIteration for such a peer.

    Anything but SinkDown from `send` leaves the dispatcher's whole batch leased (2 x timeout_s + 30 s), so
    after an outage behind a proxy the backlog drained at the pace of lease expiries. Several attempts,
    since which error aiormq raises depends on when the close arrives.
    """

    async def attempts(port: int) -> list[str]:
        sink = RabbitMqSink("events", f"amqp://guest:guest@127.0.0.1:{port}/", "x", queue=None, timeout_s=5.0)
        outcomes = []
        for n in range(30):
            try:
                await sink.send([delivery(n, "task-a")])
                outcomes.append("delivered")
            except SinkDown as exc:
                assert str(exc).startswith("rabbitmq x: "), exc
                outcomes.append("down")
            except Exception as exc:  # the failure this test is about: name it
                outcomes.append(f"{type(exc).__name__}: {exc}")
        await sink.close()
        return outcomes

    with ClosingServer() as server:
        outcomes = uvloop.run(attempts(server.port))
    assert outcomes == ["down"] * 30, sorted(set(outcomes))

"""The contract every sink keeps, run against the real servers: one abstract case, one subclass per sink.

Each test runs a real receiver (uvicorn in a thread, SQLite in a temporary data dir) configured with the
sink under test, posts real callbacks over HTTP and reads what a consumer of the broker sees. Outages go
through a TCP proxy of the test's own between vodhook and the broker (the shared brokers are never
stopped); the JSON Lines sink's outage is its directory turning into a file.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from receiver.cli import main
from receiver.config import load_settings
from receiver.store.base import OutboxFilter, OutboxMessage, OutboxState
from tests.conftest import RunningReceiver, serve_in_thread
from tests.services import require_service
from tests.sinks.helpers import (
    MqttSubscriber,
    Received,
    TcpProxy,
    WebhookEndpoint,
    legacy_callback,
    on_loop,
    post_callbacks,
    wait_until,
)

SINK = "under-test"
FAST_RETRIES = {"backoff_base_s": 0.05, "backoff_max_s": 0.2, "poll_s": 0.1, "timeout_s": 5.0}


def _toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else ("true" if value else "false")


class SinkContract(ABC):
    """What every sink must do. Subclasses say how to configure the sink, cut it, and read what arrived."""

    #: Whether a consumer sees the message headers (a file has only the message).
    carries_headers: ClassVar[bool] = True
    #: Whether the broker itself drops a second message with the same event id (NATS JetStream).
    server_dedups: ClassVar[bool] = False

    # what a subclass provides --------------------------------------------------------------------------

    @abstractmethod
    def sink_config(self, tmp_path: Path) -> dict[str, Any]:
        """The sink's settings (type, address through the proxy, stream/exchange names unique to the test)."""

    @abstractmethod
    def received(self) -> list[Received]:
        """Everything a consumer has seen so far, in the order the sink holds it."""

    @abstractmethod
    def cut(self) -> None: ...

    @abstractmethod
    def restore(self) -> None: ...

    @pytest.fixture
    def environment(self, tmp_path: Path) -> Iterator[None]:
        """Per-test broker resources (a proxy, unique stream names); subclasses override to set them up."""
        yield

    # the receiver under test ---------------------------------------------------------------------------

    @pytest.fixture
    def start(self, environment: None, tmp_path: Path) -> Iterator[Any]:
        started: list[RunningReceiver] = []

        def run(**overrides: Any) -> RunningReceiver:
            sink = {**self.sink_config(tmp_path), **FAST_RETRIES, **overrides}
            lines = [f'data_dir = "{tmp_path / "data"}"', f'[sinks."{SINK}"]']
            lines += [f"{key} = {_toml_value(value)}" for key, value in sink.items()]
            config = tmp_path / "vodhook.toml"
            config.write_text("\n".join(lines) + "\n")
            self.config_file = config
            running = serve_in_thread(load_settings(config))
            started.append(running)
            return running

        yield run
        for running in started:
            running.stop()

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(main, ["--config", str(self.config_file), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def outbox(self, receiver: RunningReceiver, state: OutboxState) -> list[OutboxMessage]:
        store = receiver.app.state.pipeline.store
        return on_loop(receiver, store.list_outbox(OutboxFilter(sink=SINK, state=state, limit=10_000)))

    def queued_total(self, receiver: RunningReceiver) -> int:
        """Every outbox row of the sink, whatever its state (one read, so nothing moves in between)."""
        counts = on_loop(receiver, receiver.app.state.pipeline.store.outbox_counts())
        return sum(counts.get(SINK, {}).values())

    def wait_for(self, count: int, what: str) -> list[Received]:
        wait_until(lambda: len(self.received()) >= count, f"{count} messages: {what}")
        found = self.received()
        assert len(found) == count, [r.message["event_id"] for r in found]
        return found

    @staticmethod
    def versions_by_task(found: list[Received]) -> dict[str, list[int]]:
        by_task: dict[str, list[int]] = defaultdict(list)
        for item in found:
            by_task[item.message["task_id"]].append(item.message["version"])
        return dict(by_task)

    # the contract --------------------------------------------------------------------------------------

    def test_delivers_each_task_change_with_its_headers(self, start: Any) -> None:
        receiver = start()
        post_callbacks(receiver, [legacy_callback("task-a", s) for s in ("WAITING", "PROCESSING", "FINISH")])
        found = self.wait_for(3, "one per status")
        assert [r.message["version"] for r in found] == [1, 2, 3]
        last = found[-1].message
        assert last["schema_version"] == 1
        assert last["event_type"] == "ProcedureStateChanged"
        assert last["provider"] == "tencent-vod" and last["task_id"] == "task-a"
        assert last["task"]["status"] == "finished" and last["task"]["outcome"] == "success"
        assert last["event"]["event_id"] == last["event_id"]
        if self.carries_headers:
            headers = found[-1].headers
            assert headers["event-id"] == last["event_id"]
            assert headers["event-type"] == "ProcedureStateChanged"
            assert headers["provider"] == "tencent-vod"
            assert headers["task-id"] == "task-a"
            assert headers["task-version"] == "3"
        # the broker can hand a message to the consumer before the receiver has marked its row delivered
        wait_until(lambda: not self.outbox(receiver, OutboxState.PENDING), "all three marked delivered")

    def test_keeps_order_per_task(self, start: Any) -> None:
        receiver = start(batch_size=7)
        tasks = [f"task-{n}" for n in range(12)]
        statuses = ("WAITING", "PROCESSING", "FINISH")
        post_callbacks(receiver, [legacy_callback(task, status) for status in statuses for task in tasks])
        found = self.wait_for(36, "three per task")
        assert self.versions_by_task(found) == {task: [1, 2, 3] for task in tasks}

    def test_an_outage_in_the_middle_loses_nothing(self, start: Any) -> None:
        receiver = start()
        tasks = [f"task-{n}" for n in range(6)]
        post_callbacks(receiver, [legacy_callback(task, "WAITING") for task in tasks])
        self.wait_for(6, "before the outage")
        # A consumer can see a message before vodhook has its acknowledgement: cut only once all six are settled.
        wait_until(lambda: not self.outbox(receiver, OutboxState.PENDING), "the first six marked delivered")
        self.cut()
        try:
            post_callbacks(receiver, [legacy_callback(task, "PROCESSING") for task in tasks])
            wait_until(
                lambda: any(m.last_error for m in self.outbox(receiver, OutboxState.PENDING)),
                "a failed attempt during the outage",
            )
            post_callbacks(receiver, [legacy_callback(task, "FINISH") for task in tasks])
            receiver.drain()
            assert len(self.outbox(receiver, OutboxState.PENDING)) == 12
        finally:
            self.restore()
        found = self.wait_for(18, "everything after the outage")
        assert self.versions_by_task(found) == {task: [1, 2, 3] for task in tasks}
        assert not self.outbox(receiver, OutboxState.DEAD)

    def test_dead_letters_hold_back_nothing(self, start: Any) -> None:
        receiver = start(max_age_s=0.5)
        self.cut()
        try:
            post_callbacks(receiver, [legacy_callback("task-d", s) for s in ("WAITING", "PROCESSING")])
            wait_until(lambda: len(self.outbox(receiver, OutboxState.DEAD)) == 2, "two dead letters")
        finally:
            self.restore()
        dead = self.outbox(receiver, OutboxState.DEAD)
        assert all("older than" in (m.last_error or "") for m in dead)
        post_callbacks(receiver, [legacy_callback("task-d", "FINISH")])
        found = self.wait_for(1, "the later message, past the dead letters")
        assert found[0].message["version"] == 3

    def test_manual_retry_sends_dead_letters(self, start: Any) -> None:
        receiver = start(max_age_s=0.5)
        self.cut()
        try:
            post_callbacks(receiver, [legacy_callback("task-r", s) for s in ("WAITING", "PROCESSING", "FINISH")])
            wait_until(lambda: len(self.outbox(receiver, OutboxState.DEAD)) == 3, "three dead letters")
        finally:
            self.restore()
        listed = self.cli("outbox", "list", "--sink", SINK, "--json")
        assert len(json.loads(listed)["messages"]) == 3
        assert "re-queued 3 dead letters" in self.cli("outbox", "retry", "--sink", SINK, "--all")
        found = self.wait_for(3, "the retried dead letters")
        assert [r.message["version"] for r in found] == [1, 2, 3]
        assert not self.outbox(receiver, OutboxState.DEAD)

    def test_redelivery_sends_stored_events_again(self, start: Any) -> None:
        receiver = start()
        for task in ("task-x", "task-y"):
            post_callbacks(receiver, [legacy_callback(task, s) for s in ("WAITING", "FINISH")])
        first = self.wait_for(4, "the first delivery")
        output = self.cli("outbox", "redeliver", "--sink", SINK, "--task-id", "task-x")
        assert "queued 2 events" in output
        found = self.wait_for(6, "the redelivery")
        again = found[4:]
        originals = [r for r in first if r.message["task_id"] == "task-x"]
        assert [r.message["event_id"] for r in again] == [r.message["event_id"] for r in originals]
        assert [r.message["version"] for r in again] == [1, 2]
        if self.carries_headers:
            assert all(r.headers.get("redelivery") == "true" for r in again)
            old_ids = {r.headers["delivery-id"] for r in originals}
            assert not old_ids & {r.headers["delivery-id"] for r in again}

    def test_filters_choose_what_is_forwarded(self, start: Any) -> None:
        receiver = start(statuses=["finished"], outcomes=["failed"])
        post_callbacks(receiver, [legacy_callback("task-ok", s) for s in ("WAITING", "PROCESSING", "FINISH")])
        failed = legacy_callback("task-bad", "FINISH", failed=True)
        post_callbacks(receiver, [legacy_callback("task-bad", "WAITING"), failed, failed])  # and a duplicate
        receiver.drain()  # every event is stored and routed: the outbox holds all this sink will ever get
        assert self.queued_total(receiver) == 1
        found = self.wait_for(1, "the one failed finish")
        assert found[0].message["task_id"] == "task-bad" and found[0].message["task"]["outcome"] == "failed"

    def test_every_event_forwards_duplicates_and_stale_events(self, start: Any) -> None:
        receiver = start(every_event=True)
        bodies = [legacy_callback("task-e", "PROCESSING"), legacy_callback("task-e", "PROCESSING")]
        bodies.append(legacy_callback("task-e", "WAITING"))  # stale: older than what the task holds
        post_callbacks(receiver, bodies)
        receiver.drain()
        assert self.queued_total(receiver) == 3
        if self.server_dedups:  # the broker drops the duplicate itself: same event id, same message id
            found = self.wait_for(2, "the change and the stale event")
            assert [r.message["effect"] for r in found] == ["applied", "stale"]
            return
        found = self.wait_for(3, "the change, its duplicate and the stale event")
        assert [r.message["effect"] for r in found] == ["applied", "applied", "stale"]
        assert found[0].message["event_id"] == found[1].message["event_id"]


# one subclass per sink -------------------------------------------------------------------------------------


class ProxiedContract(SinkContract):
    """A sink reached through the test's TCP proxy, so `cut` is a network outage."""

    upstream: tuple[str, int]
    proxy: TcpProxy

    def cut(self) -> None:
        self.proxy.cut()

    def restore(self) -> None:
        self.proxy.restore()

    def open_proxy(self) -> TcpProxy:
        self.proxy = TcpProxy(*self.upstream)
        return self.proxy


class TestJsonlSink(SinkContract):
    carries_headers = False

    @pytest.fixture
    def environment(self, tmp_path: Path) -> Iterator[None]:
        self.folder = tmp_path / "out"
        yield

    def sink_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"type": "jsonl", "path": str(self.folder / "events.jsonl")}

    def received(self) -> list[Received]:
        path = self.folder / "events.jsonl"
        if not path.is_file():
            return []
        return [Received(json.loads(line)) for line in path.read_text().splitlines()]

    def cut(self) -> None:
        """The folder becomes a file: every write fails as a full or broken disk would."""
        if self.folder.exists():
            self.folder.rename(self.folder.with_name("out.away"))
        self.folder.write_text("in the way")

    def restore(self) -> None:
        self.folder.unlink()
        away = self.folder.with_name("out.away")
        if away.exists():
            away.rename(self.folder)
        else:
            self.folder.mkdir()


class TestHttpSink(ProxiedContract):
    @pytest.fixture
    def environment(self, tmp_path: Path) -> Iterator[None]:
        with WebhookEndpoint() as endpoint:
            self.endpoint = endpoint
            self.upstream = ("127.0.0.1", endpoint.port)
            with self.open_proxy():
                yield

    def sink_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"type": "http", "url": f"http://127.0.0.1:{self.proxy.port}/hook"}

    def received(self) -> list[Received]:
        found = []
        for request in self.endpoint.accepted():
            prefix = "vodhook-"
            headers = {k[len(prefix) :]: v for k, v in request.headers.items() if k.startswith(prefix)}
            found.append(Received(json.loads(request.body), headers))
        return found


class TestRedisSink(ProxiedContract):
    upstream = ("127.0.0.1", 6379)

    @pytest.fixture
    def environment(self, tmp_path: Path) -> Iterator[None]:
        require_service("redis")
        import redis

        self.stream = f"vodhook-test-{uuid.uuid4().hex}"
        self.redis = redis.Redis(host="127.0.0.1", port=6379)
        with self.open_proxy():
            yield
        self.redis.delete(self.stream)
        self.redis.close()

    def sink_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"type": "redis", "url": f"redis://127.0.0.1:{self.proxy.port}/0", "stream": self.stream}

    def received(self) -> list[Received]:
        found = []
        entries: list[tuple[bytes, dict[bytes, bytes]]] = self.redis.xrange(self.stream)  # type: ignore[assignment]
        for _, fields in entries:
            decoded = {k.decode(): v.decode() for k, v in fields.items()}
            found.append(Received(json.loads(decoded.pop("message")), decoded))
        return found


class TestNatsSink(ProxiedContract):
    upstream = ("127.0.0.1", 4222)
    server_dedups = True

    @pytest.fixture
    def environment(self, tmp_path: Path) -> Iterator[None]:
        require_service("nats")
        token = uuid.uuid4().hex
        self.stream = f"VODHOOK_TEST_{token}"
        self.subject = f"vodhook.test.{token}"
        with self.open_proxy():
            yield
        asyncio.run(self._delete_stream())

    async def _delete_stream(self) -> None:
        import nats
        import nats.js.errors

        nc = await nats.connect("nats://127.0.0.1:4222")
        try:
            await nc.jetstream().delete_stream(self.stream)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    def sink_config(self, tmp_path: Path) -> dict[str, Any]:
        return {
            "type": "nats",
            "url": f"nats://127.0.0.1:{self.proxy.port}",
            "stream": self.stream,
            "subject": self.subject,
        }

    def received(self) -> list[Received]:
        return asyncio.run(self._read())

    async def _read(self) -> list[Received]:
        import nats
        import nats.js.errors

        nc = await nats.connect("nats://127.0.0.1:4222")
        try:
            js = nc.jetstream()
            try:
                info = await js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                return []
            found = []
            for seq in range(info.state.first_seq or 1, info.state.last_seq + 1):
                msg = await js.get_msg(self.stream, seq)
                headers = dict(msg.headers or {})
                assert msg.subject is not None and msg.subject.startswith(self.subject + ".")
                assert headers.get("Nats-Msg-Id", "").startswith(headers["event-id"])
                assert msg.data is not None
                found.append(Received(json.loads(msg.data), headers))
            return found
        finally:
            await nc.close()


class TestRabbitMqSink(ProxiedContract):
    upstream = ("127.0.0.1", 5672)

    @pytest.fixture
    def environment(self, tmp_path: Path) -> Iterator[None]:
        require_service("rabbitmq")
        token = uuid.uuid4().hex
        self.exchange = f"vodhook-test-{token}"
        self.queue = f"vodhook-test-{token}"
        self.seen: list[Received] = []
        asyncio.run(self._declare())
        with self.open_proxy():
            yield
        asyncio.run(self._delete())

    async def _declare(self) -> None:
        import aio_pika

        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.bind(exchange, routing_key="#")

    async def _delete(self) -> None:
        import aio_pika

        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue)
            await channel.exchange_delete(self.exchange)

    def sink_config(self, tmp_path: Path) -> dict[str, Any]:
        return {
            "type": "rabbitmq",
            "url": f"amqp://guest:guest@127.0.0.1:{self.proxy.port}/",
            "exchange": self.exchange,
        }

    def received(self) -> list[Received]:
        self.seen.extend(asyncio.run(self._drain()))
        return list(self.seen)

    async def _drain(self) -> list[Received]:
        import aio_pika

        found = []
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(self.queue, ensure=False)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
                assert message.routing_key == json.loads(message.body)["task_id"]
                headers = {k: str(v.decode() if isinstance(v, bytes) else v) for k, v in message.headers.items()}
                found.append(Received(json.loads(message.body), headers))
        return found


class TestMqttSink(ProxiedContract):
    upstream = ("127.0.0.1", 1883)

    @pytest.fixture
    def environment(self, tmp_path: Path) -> Iterator[None]:
        require_service("mosquitto")
        self.prefix = f"vodhook-test/{uuid.uuid4().hex}"
        with MqttSubscriber(f"{self.prefix}/#") as subscriber, self.open_proxy():
            self.subscriber = subscriber
            yield

    def sink_config(self, tmp_path: Path) -> dict[str, Any]:
        return {
            "type": "mqtt",
            "url": f"mqtt://127.0.0.1:{self.proxy.port}",
            "topic": self.prefix + "/{provider}/{task_id}",
        }

    def received(self) -> list[Received]:
        found = []
        for item in self.subscriber.messages():
            received = item.as_received()
            assert item.topic == f"{self.prefix}/{received.message['provider']}/{received.message['task_id']}"
            assert item.qos == 1 and not item.retain
            assert item.content_type == "application/json"
            found.append(received)
        return found

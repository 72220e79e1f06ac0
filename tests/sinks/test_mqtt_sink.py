"""What is particular to the MQTT sink, against real Mosquitto brokers (the contract is in test_sink_contract.py).

Most tests use the machine's Mosquitto (127.0.0.1:1883) with a topic unique to the test. Those that stop,
freeze or restrict a broker start their own Mosquitto process on a free port (password file and ACL in the
test's directory), so the shared broker is never touched.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from receiver.config import ConfigError, load_settings
from receiver.outbox import make_sink
from receiver.sinks.base import Delivery, DeliveryFailed, SinkDown
from receiver.sinks.mqtt import MqttSink
from receiver.sinks.mqtt_names import broker_address, expand_topic, topic_problem
from receiver.store.base import OutboxMessage
from tests.conftest import free_port
from tests.services import require_service
from tests.sinks.helpers import MqttReceived, MqttSubscriber, wait_until

T0 = datetime(2026, 3, 1, tzinfo=UTC)
USER, PASSWORD = "vodhook", "p@ss:w/rd"  # characters a URL must percent-encode
URL_PASSWORD = "p%40ss%3Aw%2Frd"


def delivery(n: int, task: str = "task-1", *, provider: str = "tencent-vod", event_type: str = "X") -> Delivery:
    message = {
        "schema_version": 1,
        "event_id": f"e{n}",
        "event_type": event_type,
        "provider": provider,
        "task_id": task,
        "version": n,
    }
    return Delivery.of(OutboxMessage(n, "events", f"e{n}", provider, task, n, message, "pending", 0, T0))


def wait_for_messages(subscriber: MqttSubscriber, count: int, what: str) -> list[MqttReceived]:
    wait_until(lambda: len(subscriber.messages()) >= count, what)
    found = subscriber.messages()
    assert len(found) == count, [m.topic for m in found]
    return found


@pytest.fixture
def prefix() -> str:
    require_service("mosquitto")
    return f"vodhook-test/{uuid.uuid4().hex}"


# topics and settings ---------------------------------------------------------------------------------------


def test_a_placeholder_fills_exactly_one_topic_level() -> None:
    values = {"provider": "aliyun-vod", "event_type": "TranscodeComplete", "task_id": "a/b+c#d"}
    assert expand_topic("v/{provider}/{event_type}/{task_id}", values) == "v/aliyun-vod/TranscodeComplete/a_b_c_d"
    assert expand_topic("v/{task_id}/end", {**values, "task_id": ""}) == "v/_/end"
    assert expand_topic("vodhook/events", values) == "vodhook/events"
    assert topic_problem("v/{provider}/{task_id}") is None
    assert "unknown placeholder {task}" in (topic_problem("v/{task}") or "")
    assert "wildcard" in (topic_problem("v/+/x") or "") and "wildcard" in (topic_problem("v/#") or "")
    assert "not part of a placeholder" in (topic_problem("v/{provider") or "")
    assert "$" in (topic_problem("$SYS/x") or "")
    assert topic_problem("") == "is empty"


def test_settings_name_a_bad_topic_or_url(tmp_path: Path) -> None:
    def load(**sink: Any) -> None:
        load_settings(data_dir=tmp_path, sinks={"bus": {"type": "mqtt", **sink}})

    with pytest.raises(ConfigError, match=r"sinks\.bus.*a mqtt sink needs topic"):
        load(url="mqtt://127.0.0.1")
    with pytest.raises(ConfigError, match=r"sinks\.bus.*a mqtt sink needs url"):
        load(topic="vodhook/events")
    with pytest.raises(ConfigError, match=r"topic 'v/\{task\}' has an unknown placeholder \{task\}"):
        load(url="mqtt://127.0.0.1", topic="v/{task}")
    with pytest.raises(ConfigError, match=r"topic 'v/#' holds a wildcard"):
        load(url="mqtt://127.0.0.1", topic="v/#")
    with pytest.raises(
        ConfigError, match=r"url 'tcp://user:\*\*\*@broker:1883': the scheme must be mqtt:// or mqtts://"
    ):
        load(url="tcp://user:hunter2@broker:1883", topic="v")
    with pytest.raises(ConfigError, match=r"retain"):
        load(url="mqtt://127.0.0.1", topic="v", retain="sometimes")
    with pytest.raises(ConfigError, match=r"mqtt_version"):
        load(url="mqtt://127.0.0.1", topic="v", mqtt_version="4")


def test_the_url_gives_host_port_tls_and_decoded_credentials() -> None:
    plain = broker_address(f"mqtt://{USER}:{URL_PASSWORD}@broker.example.com")
    assert (plain.host, plain.port, plain.tls) == ("broker.example.com", 1883, False)
    assert (plain.username, plain.password) == (USER, PASSWORD)
    assert plain.shown == f"mqtt://{USER}:***@broker.example.com"
    tls = broker_address("mqtts://broker.example.com")
    assert (tls.port, tls.tls, tls.username) == (8883, True, None)
    assert broker_address("mqtts://broker.example.com:443").port == 443


def test_make_sink_builds_the_configured_mqtt_sink(tmp_path: Path) -> None:
    sink = {"type": "mqtt", "url": "mqtts://b:8884", "topic": "v/{task_id}", "retain": True}
    settings = load_settings(data_dir=tmp_path, sinks={"bus": {**sink, "mqtt_version": "3.1.1", "client_id": "me"}})
    built = make_sink("bus", settings.sinks["bus"], tmp_path)
    assert isinstance(built, MqttSink)
    assert (built.address.port, built.address.tls, built.topic, built.retain) == (8884, True, "v/{task_id}", True)
    assert (built.version, built.client_id) == ("3.1.1", "me")
    default = make_sink("bus", load_settings(data_dir=tmp_path, sinks={"bus": sink}).sinks["bus"], tmp_path)
    assert isinstance(default, MqttSink) and default.version == "5" and default.client_id.startswith("vodhook-bus-")


# publishing to the shared Mosquitto ------------------------------------------------------------------------


def test_publishes_with_qos_1_to_the_expanded_topic_with_headers(prefix: str) -> None:
    sink = MqttSink("events", "mqtt://127.0.0.1:1883", prefix + "/{provider}/{event_type}/{task_id}", timeout_s=5)
    batch = [delivery(1, "task/1"), delivery(2, "task+2", provider="aliyun-vod", event_type="TranscodeComplete")]

    async def send() -> list[Any]:
        try:
            return await sink.send(batch)
        finally:
            await sink.close()

    with MqttSubscriber(f"{prefix}/#") as subscriber:
        assert asyncio.run(send()) == [None, None]
        found = sorted(wait_for_messages(subscriber, 2, "both messages"), key=lambda m: m.topic)
    assert [m.topic for m in found] == [
        f"{prefix}/aliyun-vod/TranscodeComplete/task_2",
        f"{prefix}/tencent-vod/X/task_1",
    ]
    assert all(m.qos == 1 and not m.retain and m.content_type == "application/json" for m in found)
    first = found[1]
    assert first.payload == batch[0].body
    assert first.user_properties == batch[0].headers
    assert first.user_properties["task-id"] == "task/1"  # the header keeps the id the topic had to change


def test_mqtt_3_1_1_sends_the_body_without_headers(prefix: str) -> None:
    sink = MqttSink("events", "mqtt://127.0.0.1:1883", prefix + "/{task_id}", version="3.1.1", timeout_s=5)

    async def send() -> list[Any]:
        try:
            return await sink.send([delivery(1)])
        finally:
            await sink.close()

    with MqttSubscriber(f"{prefix}/#") as subscriber:
        assert asyncio.run(send()) == [None]
        [found] = wait_for_messages(subscriber, 1, "the message")
    assert found.topic == f"{prefix}/task-1" and found.qos == 1
    assert found.as_received().message["event_id"] == "e1" and found.user_properties == {}


def test_retain_is_off_unless_asked_for(prefix: str) -> None:
    kept = MqttSink("kept", "mqtt://127.0.0.1:1883", prefix + "/kept/{task_id}", retain=True, timeout_s=5)
    plain = MqttSink("plain", "mqtt://127.0.0.1:1883", prefix + "/plain/{task_id}", timeout_s=5)
    marker = MqttSink("marker", "mqtt://127.0.0.1:1883", prefix + "/marker", timeout_s=5)

    async def send(*pairs: tuple[MqttSink, Delivery]) -> None:
        for sink, item in pairs:
            assert await sink.send([item]) == [None]
            await sink.close()

    asyncio.run(send((kept, delivery(1)), (plain, delivery(2))))
    try:
        # a subscriber arriving later gets the retained message at once; the marker, published after it
        # subscribed, proves nothing else (the unretained one) was coming
        with MqttSubscriber(f"{prefix}/#") as late:
            asyncio.run(send((marker, delivery(3))))
            found = wait_for_messages(late, 2, "the retained message and the marker")
        assert [(m.topic, m.retain) for m in found] == [(f"{prefix}/kept/task-1", True), (f"{prefix}/marker", False)]
    finally:
        asyncio.run(_clear_retained(f"{prefix}/kept/task-1"))


async def _clear_retained(topic: str, port: int = 1883) -> None:
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.publish(topic, b"", qos=1, retain=True)


# a broker of the test's own: down, frozen, restricted --------------------------------------------------------


class PrivateBroker:
    """A Mosquitto process on a free port, with a password file and an ACL, that a test may stop and freeze."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        if not (os.access(binary, os.X_OK) and os.access(passwd, os.X_OK)):
            message = "mosquitto and mosquitto_passwd are needed to run a broker of the test's own"
            if os.environ.get("CI") == "true":
                pytest.fail(message + " and CI=true")
            pytest.skip(message)
        self.binary = binary
        self.port = free_port()
        self.folder = folder
        subprocess.run([passwd, "-c", "-b", str(folder / "passwd"), USER, PASSWORD], check=True, timeout=30)
        (folder / "acl").write_text(f"user {USER}\ntopic write allowed/#\ntopic read #\n")
        (folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {folder / 'passwd'}\n"
            f"acl_file {folder / 'acl'}\n"
            "persistence false\n"
            # as root, Mosquitto would switch to its own user, who cannot read the test's private directory
            f"user {getpass.getuser()}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, password: str = URL_PASSWORD) -> str:
        return f"mqtt://{USER}:{password}@127.0.0.1:{self.port}"

    def subscriber(self, topic_filter: str = "#") -> MqttSubscriber:
        return MqttSubscriber(topic_filter, self.port, username=USER, password=PASSWORD)

    def start(self) -> None:
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.folder / "mosquitto.conf")], stdout=log, stderr=log
        )
        log.close()
        wait_until(self._listening, f"the test's Mosquitto on port {self.port}")

    def _listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (self.folder / "mosquitto.log").read_text()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.send_signal(signal.SIGCONT)  # a frozen broker cannot act on SIGTERM
            process.terminate()
            process.wait(timeout=30)

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    folder = tmp_path / "broker"
    folder.mkdir()
    private = PrivateBroker(folder)
    try:
        yield private
    finally:
        private.stop()


def test_a_broker_that_is_down_fails_naming_sink_and_url_then_the_sink_reconnects(broker: PrivateBroker) -> None:
    sink = MqttSink("events", broker.url(), "allowed/{task_id}", timeout_s=5)

    async def scenario() -> list[str]:
        errors = []
        try:
            with pytest.raises(SinkDown) as down:  # nothing listens on the port yet
                await sink.send([delivery(1)])
            errors.append(str(down.value))
            await asyncio.to_thread(broker.start)
            with broker.subscriber() as subscriber:
                assert await sink.send([delivery(2)]) == [None]
                await asyncio.to_thread(wait_for_messages, subscriber, 1, "the first message once the broker is up")
            await asyncio.to_thread(broker.stop)  # the broker goes away under an open connection
            with pytest.raises(SinkDown) as lost:
                await sink.send([delivery(3)])
            errors.append(str(lost.value))
            await asyncio.to_thread(broker.start)
            with broker.subscriber() as subscriber:
                assert await sink.send([delivery(4)]) == [None]
                [found] = await asyncio.to_thread(wait_for_messages, subscriber, 1, "a message after the restart")
                assert found.as_received().message["event_id"] == "e4"
            return errors
        finally:
            await sink.close()

    errors = asyncio.run(scenario())
    for error in errors:
        assert f"mqtt mqtt://{USER}:***@127.0.0.1:{broker.port} (sink events)" in error
        assert PASSWORD not in error and URL_PASSWORD not in error
    assert "cannot connect" in errors[0] and "Connection refused" in errors[0]


def test_wrong_credentials_are_a_sink_down_naming_the_refusal(broker: PrivateBroker) -> None:
    broker.start()
    sink = MqttSink("events", broker.url(password="wrong"), "allowed/{task_id}", timeout_s=5)

    async def send() -> None:
        try:
            await sink.send([delivery(1)])
        finally:
            await sink.close()

    with pytest.raises(SinkDown, match=r"cannot connect: .*(Not authorized|Bad user name or password)"):
        asyncio.run(send())


def test_a_refusal_in_the_puback_is_not_a_delivery(broker: PrivateBroker) -> None:
    """The ACL lets the user publish under allowed/ only: Mosquitto answers 0x87 in the PUBACK elsewhere."""
    broker.start()
    allowed = MqttSink("ok", broker.url(), "allowed/{task_id}", timeout_s=5)
    denied = MqttSink("denied", broker.url(), "denied/{task_id}", timeout_s=5)

    async def send() -> tuple[list[Any], list[Any]]:
        try:
            return await allowed.send([delivery(1)]), await denied.send([delivery(2), delivery(3, "task-3")])
        finally:
            await allowed.close()
            await denied.close()

    with broker.subscriber() as subscriber:
        ok, refused = asyncio.run(send())
        [found] = wait_for_messages(subscriber, 1, "the allowed message")
    assert ok == [None] and found.topic == "allowed/task-1"
    assert len(refused) == 2 and all(isinstance(result, DeliveryFailed) for result in refused)
    assert all(r.permanent and "refused the message on 'denied/" in r.reason and "(0x87)" in r.reason for r in refused)


def test_a_frozen_broker_fails_the_publish_and_the_sink_starts_afresh(broker: PrivateBroker) -> None:
    """A publish counts only once its PUBACK came: a broker that stops answering fails it (retried later)."""
    broker.start()
    sink = MqttSink("events", broker.url(), "allowed/{task_id}", timeout_s=1)

    async def scenario() -> list[Any]:
        try:
            assert await sink.send([delivery(1)]) == [None]
            broker.freeze()
            try:
                stuck = await sink.send([delivery(2)])
            finally:
                broker.thaw()
            assert await sink.send([delivery(3)]) == [None]
            return stuck
        finally:
            await sink.close()

    with broker.subscriber() as subscriber:
        [stuck] = asyncio.run(scenario())
        found = wait_for_messages(subscriber, 3, "all three: the unacknowledged one arrives late")
    assert isinstance(stuck, DeliveryFailed) and not stuck.permanent
    assert "no PUBACK within 1 s" in stuck.reason
    assert sorted(m.as_received().message["event_id"] for m in found) == ["e1", "e2", "e3"]

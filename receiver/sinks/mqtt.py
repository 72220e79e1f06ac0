"""MQTT sink: each message is published with QoS 1 and counts as delivered once the broker's PUBACK accepts it.

The topic is a template (`vodhook/{provider}/{task_id}`, receiver/sinks/mqtt_names.py), so a consumer can
subscribe to one provider, one task or everything (`vodhook/#`). MQTT 5 (the default): every message header
travels as a user property, with content type `application/json`, and a PUBACK whose reason code is 0x80 or
more (0x87 not authorized, 0x97 quota exceeded, ...) fails the message rather than counting as delivered.
MQTT 3.1.1 (`mqtt_version = "3.1.1"`, for brokers without 5) carries the body only, and a broker refusing a
publish must acknowledge it all the same: with 3.1.1, vodhook cannot tell a refusal from a delivery.

A broker keeps a message only for the subscriptions it knows (and, with `retain`, the last one of each topic):
a consumer that must not miss messages while it is away needs a persistent session (clean start off, QoS 1).
A broker keeps the order of one client's QoS 1 messages on a topic, and the dispatcher sends a task's next
message only after the previous one was acknowledged, so any topic layout keeps each task's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import ssl
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any, Literal, Self

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from receiver.sinks.base import Delivery, DeliveryFailed, SendResult, Sink, SinkDown
from receiver.sinks.mqtt_names import BrokerAddress, broker_address, expand_topic

log = logging.getLogger("vodhook.sinks.mqtt")
MqttVersion = Literal["5", "3.1.1"]
#: PUBACK refusals that a later attempt may get past (unspecified error, packet id in use, quota exceeded);
#: any other refusal (not authorized, topic or payload invalid, too large) is a dead letter at once.
_TRANSIENT_REFUSALS = {0x80, 0x91, 0x97}
_NOT_IN_CLIENT_ID = re.compile(r"[^A-Za-z0-9_-]")


class _ConnectionLost(ConnectionError):
    """The connection ended while a publish waited for its PUBACK (or before it could be sent)."""


class _Client(aiomqtt.Client):
    """aiomqtt's client with a publish that returns the broker's answer and fails as soon as the connection does.

    aiomqtt's own `publish` completes on any PUBACK, an MQTT 5 refusal included, and learns of a lost
    connection only when its timeout runs out. This one publishes through the paho client that aiomqtt wraps
    and keeps a future per packet id, resolved from paho's publish callback with the PUBACK's reason code and
    failed by a watcher when the connection ends. (It uses aiomqtt's internals `_client`, `_on_publish`,
    `_connected` and `_on_disconnect`, hence the `<3` bound in pyproject.toml; tests/sinks/test_mqtt_sink.py
    fails if they change.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self.lost: _ConnectionLost | None = None

    async def __aenter__(self) -> Self:
        try:
            return await super().__aenter__()
        except BaseException:
            # no CONNACK in time leaves the socket open, read by the event loop: disconnecting closes it
            self._client.disconnect()
            raise

    def watch(self) -> None:
        """Start noticing a lost connection (call once connected)."""
        self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="vodhook-mqtt-watcher")

    async def _watch(self) -> None:
        # nothing is subscribed, so the message iterator yields nothing: it only ends, when the connection does
        try:
            async for _ in self.messages:
                pass
            reason = "the connection ended"
        except aiomqtt.MqttError as exc:
            reason = str(exc.__cause__ or exc)
        self.lost = _ConnectionLost(reason)
        for future in self._acks.values():
            if not future.done():
                future.set_exception(self.lost)

    async def stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def publish_acked(
        self, topic: str, payload: bytes, *, retain: bool, properties: Properties | None, timeout_s: float
    ) -> ReasonCode:
        """Publish with QoS 1 and wait for the PUBACK's reason code."""
        if self.lost is not None:
            raise self.lost
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        if info.rc == paho.MQTT_ERR_NO_CONN:
            raise _ConnectionLost("not connected")
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "could not publish")
        future: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()
        self._acks[info.mid] = future
        try:
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._acks.pop(info.mid, None)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Properties
    ) -> None:
        super()._on_publish(client, userdata, mid, reason_code, properties)
        future = self._acks.get(mid)
        if future is not None and not future.done():
            future.set_result(reason_code)  # with 3.1.1, always a success: its PUBACK has no reason code

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        if not self._connected.done():
            # closed before its CONNACK (a proxy or load balancer with no broker behind): fail now, where
            # aiomqtt would wait out its whole timeout
            self._connected.set_exception(aiomqtt.MqttError(f"the connection closed before a CONNACK ({reason_code})"))
            self._connected.exception()  # marks it retrieved: no "never retrieved" log if the wait gave up already
        super()._on_disconnect(client, userdata, flags, reason_code, properties)


class MqttSink(Sink):
    def __init__(
        self,
        name: str,
        url: str,
        topic: str,
        *,
        retain: bool = False,
        version: MqttVersion = "5",
        client_id: str | None = None,
        timeout_s: float,
    ) -> None:
        super().__init__(name)
        self.address: BrokerAddress = broker_address(url)
        self.topic = topic
        self.retain = retain
        self.version = version
        self.client_id = client_id or f"vodhook-{_NOT_IN_CLIENT_ID.sub('_', name)[:32]}-{secrets.token_hex(4)}"
        self.timeout_s = timeout_s
        # the system's CAs, loaded once (the file reads would block the event loop at every reconnect)
        self._tls = ssl.create_default_context() if self.address.tls else None
        self._client: _Client | None = None
        self._stack: AsyncExitStack | None = None

    @property
    def _where(self) -> str:
        return f"mqtt {self.address.shown} (sink {self.name})"

    async def _connect(self) -> _Client:
        if self._client is not None and self._client.lost is None:
            return self._client
        await self.close()
        address = self.address
        client = _Client(
            address.host,
            address.port,
            username=address.username,
            password=address.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if self.version == "5" else aiomqtt.ProtocolVersion.V311,
            timeout=self.timeout_s,
            tls_context=self._tls,
        )
        stack = AsyncExitStack()
        await stack.enter_async_context(client)
        client.watch()
        self._client, self._stack = client, stack
        return client

    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        try:
            client = await self._connect()
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            await self.close()
            raise SinkDown(f"{self._where}: cannot connect: {_describe(exc)}") from exc
        outcomes = await asyncio.gather(*(self._publish(client, d) for d in batch), return_exceptions=True)
        results: list[SendResult] = []
        lost = 0
        stuck = False
        for outcome in outcomes:
            if isinstance(outcome, _ConnectionLost):
                lost += 1
                results.append(DeliveryFailed(f"{self._where}: connection lost before the PUBACK ({outcome})"))
            elif isinstance(outcome, TimeoutError):
                stuck = True
                results.append(DeliveryFailed(f"{self._where}: no PUBACK within {self.timeout_s:g} s"))
            elif isinstance(outcome, aiomqtt.MqttError):
                results.append(DeliveryFailed(f"{self._where}: publish failed: {_describe(outcome)}"))
            elif isinstance(outcome, DeliveryFailed) or outcome is None:
                results.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        if lost or stuck:
            await self.close()  # a PUBACK that never came means a stuck connection: start afresh next time
            if lost == len(batch):
                raise SinkDown(f"{self._where}: connection lost ({outcomes[0]})")
        return results

    async def _publish(self, client: _Client, delivery: Delivery) -> SendResult:
        values = {
            "provider": delivery.headers["provider"],
            "event_type": delivery.headers["event-type"],
            "task_id": delivery.order_key,
        }
        topic = expand_topic(self.topic, values)
        properties = _properties(delivery) if self.version == "5" else None
        try:
            reason = await client.publish_acked(
                topic, delivery.body, retain=self.retain, properties=properties, timeout_s=self.timeout_s
            )
        except ValueError as exc:  # paho's checks: a topic or payload no broker would take
            return DeliveryFailed(f"{self._where}: cannot publish to {topic!r}: {exc}", permanent=True)
        if not reason.is_failure:
            return None  # 0x10 "no matching subscribers" is a success: the broker took the message
        refusal = f"{self._where}: the broker refused the message on {topic!r}: {reason} (0x{reason.value:02x})"
        return DeliveryFailed(refusal, permanent=reason.value not in _TRANSIENT_REFUSALS)

    async def close(self) -> None:
        client, stack, self._client, self._stack = self._client, self._stack, None, None
        if client is not None:
            await client.stop_watching()
        if stack is not None:
            try:
                await stack.aclose()
            except (aiomqtt.MqttError, OSError) as exc:  # closing a broken connection must not fail the dispatcher
                log.debug("sink %s: closing the mqtt connection: %s", self.name, exc)


def _properties(delivery: Delivery) -> Properties:
    """MQTT 5 PUBLISH properties: the message headers as user properties, and the body's type."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho leaves it untyped
    properties.ContentType = "application/json"
    properties.PayloadFormatIndicator = 1  # UTF-8
    properties.UserProperty = list(delivery.headers.items())
    return properties


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"

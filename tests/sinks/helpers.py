"""What the sink tests need around a real broker: a TCP proxy to cut, a webhook endpoint, callbacks, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import RunningReceiver, free_port

T = TypeVar("T")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `check` until it holds; fail naming `what` (a deadline, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def on_loop(receiver: RunningReceiver, work: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine on the receiver's own event loop (its store lives there) and return its result."""
    return asyncio.run_coroutine_threadsafe(work, receiver.app.state.loop).result(timeout)


def legacy_callback(task_id: str, status: str, *, failed: bool = False, file_id: str = "5285890781") -> bytes:
    """A Tencent VOD legacy ProcedureStateChanged callback (no signature: the dialect has none)."""
    data: dict[str, Any] = {
        "vodTaskId": task_id,
        "fileId": file_id,
        "status": status,
        "errCode": 10010 if failed else 0,
        "message": "task failed" if failed else "",
        "processTaskList": [],
    }
    return json.dumps({"version": "4.0", "eventType": "ProcedureStateChanged", "data": data}).encode()


def post_callbacks(receiver: RunningReceiver, bodies: list[bytes]) -> None:
    with receiver.client() as client:
        for body in bodies:
            response = client.post("/callbacks/tencent-vod-v2", content=body)
            assert response.status_code == 200, response.text


@dataclass
class Received:
    """One message as a consumer of the sink saw it."""

    message: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


# a TCP proxy between vodhook and a broker, so a test can cut the connection without touching the broker ----


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="test-tcp-proxy")

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        server = self._server
        if server is not None:
            server.close()
            self._call(server.wait_closed())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(30)

    def cut(self) -> None:
        async def drop() -> None:
            self._cut = True
            for writer in list(self._writers):
                writer.close()
            self._writers.clear()

        self._call(drop())

    def restore(self) -> None:
        async def allow() -> None:
            self._cut = False

        self._call(allow())

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)


# an HTTP endpoint that records what the webhook sink posts ------------------------------------------------


@dataclass
class WebhookRequest:
    headers: dict[str, str]
    body: bytes


class WebhookEndpoint:
    """A real HTTP server (uvicorn in a thread) recording each POST; `answer` chooses each response."""

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []
        self.answer: Callable[[WebhookRequest], Response | Awaitable[Response]] = lambda _: Response(status_code=204)
        self._lock = threading.Lock()
        self.port = free_port()

        async def receive(request: Request) -> Response:
            item = WebhookRequest(headers=dict(request.headers), body=await request.body())
            answer = self.answer(item)
            response = answer if isinstance(answer, Response) else await answer
            if 200 <= response.status_code < 300:
                with self._lock:
                    self.requests.append(item)
            return response

        app = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, daemon=True, name="test-webhook-endpoint")

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve())
        finally:
            loop.close()

    def __enter__(self) -> WebhookEndpoint:
        self._thread.start()
        wait_until(lambda: self.server.started, "the webhook endpoint to start", timeout=20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)

    def accepted(self) -> list[WebhookRequest]:
        with self._lock:
            return list(self.requests)


# an MQTT subscriber that records what the MQTT sink publishes --------------------------------------------


@dataclass
class MqttReceived:
    """One message as an MQTT 5 subscriber saw it."""

    topic: str
    qos: int
    retain: bool
    payload: bytes
    content_type: str | None
    user_properties: dict[str, str]

    def as_received(self) -> Received:
        return Received(json.loads(self.payload), dict(self.user_properties))


class MqttSubscriber:
    """A real MQTT 5 client in a thread, subscribed with QoS 1 to `topic_filter` before `__enter__` returns.

    A broker drops what no subscription matches, so the subscription must exist before anything is published.
    """

    def __init__(
        self, topic_filter: str, port: int = 1883, *, username: str | None = None, password: str | None = None
    ) -> None:
        self.topic_filter = topic_filter
        self.port = port
        self.credentials = {"username": username, "password": password}
        self._messages: list[MqttReceived] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-mqtt-subscriber")

    def __enter__(self) -> MqttSubscriber:
        self._thread.start()
        if not self._ready.wait(20) or self._failure is not None:
            self.__exit__()
            raise AssertionError(f"the MQTT subscriber could not subscribe to {self.topic_filter!r}: {self._failure}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=20)

    def _run(self) -> None:
        try:
            self._task = self._loop.create_task(self._listen())
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self._failure = exc
        finally:
            self._ready.set()
            self._loop.close()

    async def _listen(self) -> None:
        import aiomqtt

        version = aiomqtt.ProtocolVersion.V5
        async with aiomqtt.Client("127.0.0.1", self.port, protocol=version, **self.credentials) as client:
            await client.subscribe(self.topic_filter, qos=1)
            self._ready.set()
            async for message in client.messages:
                properties = message.properties
                assert isinstance(message.payload, bytes)
                item = MqttReceived(
                    topic=message.topic.value,
                    qos=message.qos,
                    retain=message.retain,
                    payload=message.payload,
                    content_type=getattr(properties, "ContentType", None),
                    user_properties=dict(getattr(properties, "UserProperty", [])),
                )
                with self._lock:
                    self._messages.append(item)

    def messages(self) -> list[MqttReceived]:
        with self._lock:
            return list(self._messages)

"""Emulator test helpers: the emulator and a callback sink, each a real uvicorn server on an ephemeral port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.emulator.app import create_emulator_app
from receiver.emulator.config import DialectConfig, EmulatorConfig
from receiver.emulator.server import BackgroundServer

DIALECTS = ("tencent-vod-v2", "tencent-vod-v3", "tencent-mps", "aliyun-vod")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Behaviour:
    status: int = 200
    delay_s: float = 0.0
    statuses: list[int] = field(default_factory=list)  # consumed one per request, then `status`
    delays: list[float] = field(default_factory=list)  # consumed one per request, then `delay_s`


class Sink:
    """A callback receiver that records every request; per-path status codes and slowness are settable."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.behaviours: dict[str, Behaviour] = {}
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        self.server = BackgroundServer(self.app)

    async def _handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        self.received.append(Received(path, dict(request.headers), await request.body()))
        behaviour = self.behaviours.get(path, Behaviour())
        delay = behaviour.delays.pop(0) if behaviour.delays else behaviour.delay_s
        if delay:
            await asyncio.sleep(delay)
        status = behaviour.statuses.pop(0) if behaviour.statuses else behaviour.status
        return Response(b"{}", status_code=status, media_type="application/json")

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


class Control:
    """The emulator's control API, over real HTTP."""

    def __init__(self, server: BackgroundServer, app: Any) -> None:
        self.server = server
        self.app = app
        self.http = httpx.Client(base_url=server.url, timeout=60.0, verify=False)

    @property
    def emulator(self) -> Any:
        return self.app.state.emulator

    def create(self, dialect: str, **fields: Any) -> dict[str, Any]:
        response = self.http.post("/_emulator/tasks", json={"dialect": dialect, **fields})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def advance(self, task_id: str, to: str | None = None) -> dict[str, Any]:
        response = self.http.post(f"/_emulator/tasks/{task_id}/advance", json={"to": to} if to else {})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def finish(self, task_id: str) -> dict[str, Any]:
        return self.advance(task_id, "FINISH")

    def clock(self, **body: Any) -> dict[str, Any]:
        response = self.http.post("/_emulator/clock", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def settle(self, timeout_s: float = 60.0) -> dict[str, Any]:
        response = self.http.post("/_emulator/settle", json={"timeout_s": timeout_s})
        result: dict[str, Any] = response.json()
        assert result["settled"], result
        return result

    def ledger(self, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get("/_emulator/ledger", params=params).json()
        return result

    def entries(self, kind: str, **params: Any) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.ledger(kind=kind, **params)["entries"]
        return entries

    def faults(self, **spec: Any) -> dict[str, Any]:
        response = self.http.post("/_emulator/faults", json=spec)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        self.http.close()


def balanced(summary: dict[str, Any]) -> bool:
    return bool(summary["published"] == summary["delivered"] + summary["dropped"] and summary["in_flight"] == 0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink()
    sink.server.start()
    try:
        yield sink
    finally:
        sink.server.stop()


EmulatorFactory = Callable[..., Control]


@pytest.fixture
def emulator() -> Iterator[EmulatorFactory]:
    """`emulator(config=..., tls=...)` starts one; all are stopped at the end of the test."""
    started: list[tuple[BackgroundServer, Control]] = []

    def start(config: EmulatorConfig | None = None, **kwargs: Any) -> Control:
        app = create_emulator_app(config or EmulatorConfig(time_scale=0), **kwargs)
        tls = kwargs.get("tls")
        server = BackgroundServer(
            app,
            ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
        ).start()
        control = Control(server, app)
        started.append((server, control))
        return control

    try:
        yield start
    finally:
        for server, control in started:
            control.close()
            server.stop()


def push_config(sink: Sink, *, key: str | None = None, **overrides: Any) -> EmulatorConfig:
    """Every dialect calls back into the sink at /<dialect>, signed with `key` where the dialect signs."""
    dialect_fields = {k: v for k, v in overrides.items() if k in DialectConfig.model_fields}
    config_fields = {k: v for k, v in overrides.items() if k not in DialectConfig.model_fields}
    dialects = {d: DialectConfig(callback_url=sink.url(f"/{d}"), callback_key=key, **dialect_fields) for d in DIALECTS}
    return EmulatorConfig(dialects=dialects, **{"time_scale": 0, "reorder_hold_s": 5.0, **config_fields})


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)

"""Shared fixtures: a real receiver on an ephemeral port, settings on a temporary data dir, fixture files."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from receiver.app import create_app
from receiver.clock import Clock
from receiver.config import Settings, load_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fixture_files(dialect: str | None = None) -> list[Path]:
    """Every raw callback body under fixtures/ (not query answers, not header sidecars)."""
    root = FIXTURES / dialect if dialect else FIXTURES
    return sorted(
        path
        for path in root.rglob("*.json")
        if "query" not in path.relative_to(FIXTURES).parts and not path.name.endswith(".headers.json")
    )


def fixture_headers(path: Path) -> dict[str, str]:
    sidecar = path.with_name(path.name[: -len(".json")] + ".headers.json")
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningReceiver:
    """A receiver served by uvicorn in a background thread; `url` is its base URL."""

    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every accepted callback is processed."""
        loop: asyncio.AbstractEventLoop = self.app.state.loop
        asyncio.run_coroutine_threadsafe(self.app.state.pipeline.drain(timeout), loop).result(timeout + 5)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_in_thread(settings: Settings, clock: Clock | None = None) -> RunningReceiver:
    """A receiver in a thread of this process. It processes inline unless the settings ask for a worker
    process (tests/test_worker.py does; `vodhook serve` subprocesses get the default, a worker)."""
    if settings.processing is None:
        settings = settings.model_copy(update={"processing": "inline"})
    app = create_app(settings, clock=clock)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    def run() -> None:
        loop = asyncio.new_event_loop()
        app.state.loop = loop
        try:
            loop.run_until_complete(server.serve())
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the receiver did not start")
        time.sleep(0.01)
    return RunningReceiver(url=f"http://127.0.0.1:{port}", app=app, server=server, thread=thread)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def receiver(settings: Settings) -> Iterator[RunningReceiver]:
    running = serve_in_thread(settings)
    try:
        yield running
    finally:
        running.stop()

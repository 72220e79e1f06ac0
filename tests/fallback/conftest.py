"""Fallback test helpers: a real emulator (uvicorn, ephemeral port) and a real receiver pointed at it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from receiver.config import Settings, load_settings
from tests.conftest import RunningReceiver, serve_in_thread
from tests.emulator.conftest import Control, emulator  # noqa: F401  (the fixture, re-exported)

SCENARIO_OUTCOME = {"success": "success", "fail": "failed", "partial": "partial"}


def fallback_settings(tmp_path: Path, emu: Control, dialect: str, **fallback: Any) -> Settings:
    source: dict[str, Any] = {"secret_id": "test", "secret_key": "test", "endpoint": emu.server.url}
    source.update(fallback.pop("source", {}))
    return load_settings(
        data_dir=tmp_path / "data",
        fallback={
            "enabled": True,
            "sources": {dialect: source},
            "deadline_s": 0.5,
            "tick_s": 0.1,
            "backoff_base_s": 0.3,
            "backoff_max_s": 2.0,
            "sweep_interval_s": 0.3,
            **fallback,
        },
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def running() -> Iterator[Callable[[Settings], RunningReceiver]]:
    """`running(settings)` starts a receiver; all are stopped at the end of the test."""
    started: list[RunningReceiver] = []

    def start(settings: Settings) -> RunningReceiver:
        receiver = serve_in_thread(settings)
        started.append(receiver)
        return receiver

    try:
        yield start
    finally:
        for receiver in started:
            receiver.stop()

"""Scenario files: tasks, their timings and faults, in JSON or TOML, replayed the same way every run.

```toml
seed = 7
time_scale = 60           # one real second = one emulated minute
start = "2026-01-01T00:00:00Z"   # optional: pin the clock for byte-identical replays

[faults]
drop = 0.1

[dialects.aliyun-vod]
callback_url = "http://127.0.0.1:8080/callbacks/aliyun-vod"
callback_key = "AbCd1234"

[[tasks]]
at_s = 0                  # created this long after start (emulator seconds)
dialect = "aliyun-vod"
scenario = "partial"
durations = { waiting_s = 5, processing_s = 60 }
faults = { duplicate = 1.0 }
```

The seed fixes every id and every fault decision; creation times are fixed relative to the start; so the
same file gives the same sequence of callbacks and answers (with `start` set, the same bytes too).
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from receiver.emulator.config import CredentialConfig, Dialect, DialectConfig, EmulatorConfig
from receiver.emulator.engine import Emulator
from receiver.emulator.faults import FaultSpec
from receiver.emulator.simulation import TaskRequest


class ScenarioTask(TaskRequest):
    model_config = ConfigDict(extra="forbid")

    at_s: float = Field(0.0, ge=0, description="Emulator seconds after the start at which the task is created.")
    count: int = Field(1, ge=1, le=100_000, description="Create this many identical tasks at that moment.")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    time_scale: float | None = Field(None, ge=0)
    start: datetime | None = None
    faults: FaultSpec | None = None
    credentials: list[CredentialConfig] | None = None
    dialects: dict[Dialect, DialectConfig] = Field(default_factory=dict)
    tasks: list[ScenarioTask] = Field(default_factory=list)

    def configure(self, config: EmulatorConfig) -> EmulatorConfig:
        """The configuration with this scenario's settings laid over it (the scenario wins)."""
        update: dict[str, Any] = {}
        if self.seed is not None:
            update["seed"] = self.seed
        if self.time_scale is not None:
            update["time_scale"] = self.time_scale
        if self.start is not None:
            update["start"] = self.start
        if self.faults is not None:
            update["faults"] = self.faults
        if self.credentials:
            update["credentials"] = self.credentials
        if self.dialects:
            update["dialects"] = {**config.dialects, **self.dialects}
        return config.model_copy(update=update)

    def schedule(self, emulator: Emulator) -> int:
        """Queue every task at its time on the emulator clock; returns how many tasks were queued."""
        start = emulator.clock.now()
        queued = 0
        for entry in self.tasks:
            if entry.task_id and entry.count > 1:
                raise ValueError(f"tasks: task_id {entry.task_id!r} cannot be created {entry.count} times")
            request = TaskRequest.model_validate(entry.model_dump(exclude={"at_s", "count"}))
            for _ in range(entry.count):
                emulator.schedule_task(request, start + timedelta(seconds=entry.at_s))
                queued += 1
        return queued


def load_scenario(path: Path) -> Scenario:
    """Read a `.json` or `.toml` scenario; other suffixes are tried as TOML, then JSON."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return Scenario.model_validate(json.loads(text))
    try:
        return Scenario.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError:
        if path.suffix.lower() == ".toml":
            raise
        return Scenario.model_validate(json.loads(text))

"""Simulated tasks on an emulator clock: WAITING -> PROCESSING -> FINISH, by time or by hand.

The clock runs at `time_scale` emulated seconds per real second (0 freezes it) and can be moved. Every
task is one provider-neutral `SimTask`; the per-dialect modules in `bodies/` render it as callbacks and
query answers, so both always come from the same state. State changes are reported to a listener as
`Change`s in emulator-time order (the delivery side turns them into callbacks).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from receiver.emulator.config import Dialect
from receiver.emulator.faults import FaultSpec


class EmulatorClock:
    """Emulated now = start + real elapsed * scale + manual moves. Monotonic: it never goes back."""

    def __init__(self, start: datetime | None = None, scale: float = 1.0) -> None:
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._real0 = time.monotonic()
        self._scale = scale
        self._moved = timedelta(0)

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._real0) * self._scale
        return self._start + timedelta(seconds=elapsed) + self._moved

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError(f"advance_s must be >= 0 (the clock never goes back), got {seconds}")
        self._moved += timedelta(seconds=seconds)
        return self.now()

    def set(self, when: datetime) -> datetime:
        target = when.astimezone(UTC)
        now = self.now()
        if target < now:
            raise ValueError(f"cannot set the clock back from {now.isoformat()} to {target.isoformat()}")
        self._moved += target - now
        return self.now()

    def set_scale(self, scale: float) -> None:
        """Change speed without a jump: re-anchor at the current emulated time."""
        if scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {scale}")
        current = self.now()
        self._start, self._real0, self._moved, self._scale = current, time.monotonic(), timedelta(0), scale


class TaskStatus(StrEnum):
    WAITING = "WAITING"
    PROCESSING = "PROCESSING"
    FINISH = "FINISH"


OutputStatus = Literal["WAITING", "PROCESSING", "SUCCESS", "FAIL"]
Scenario = Literal["success", "fail", "partial"]


class OutputRequest(BaseModel):
    """One output (a rendition, a snapshot set, ...) a task should produce; unset fields get defaults."""

    model_config = ConfigDict(extra="forbid")

    definition: int | str | None = None
    container: str | None = Field(None, description="mp4, m3u8, ... (Alibaba: Format).")
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    bitrate: int | None = Field(None, gt=0, description="bps")
    fail: bool | None = Field(None, description="Force this output to fail (or succeed, with false).")


class Durations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waiting_s: float = Field(2.0, ge=0)
    processing_s: float = Field(10.0, ge=0)


class TaskRequest(BaseModel):
    """Body of `POST /_emulator/tasks` (and of a scenario's task entries)."""

    model_config = ConfigDict(extra="forbid")

    dialect: Dialect
    kind: str | None = None
    scenario: Scenario = "success"
    outputs: list[OutputRequest] | None = None
    durations: Durations = Field(default_factory=Durations)
    task_id: str | None = Field(None, description="Use this id instead of a generated one.")
    file_id: str | None = Field(None, description="Tencent FileId / Alibaba VideoId of the source.")
    file_name: str | None = None
    session_id: str = ""
    session_context: str = ""
    notify_mode: Literal["Finish", "Change"] | None = None
    callback_url: str | None = None
    callback_key: str | None = Field(None, description="Sign this task's callbacks with this key.")
    faults: FaultSpec | None = None
    extend: str | None = Field(None, description="Alibaba UserData.Extend pass-through.")
    trigger: Literal["Auto", "Manual"] = "Manual"
    age_s: float = Field(0.0, ge=0, description="Create the task this long ago (retention tests).")
    extra: dict[str, Any] = Field(default_factory=dict, description="Provider-specific echo (MPS input...).")


@dataclass
class Media:
    """The source file's measured properties, shared by metadata blocks of every dialect."""

    duration: float
    size: int
    width: int
    height: int
    bitrate: int
    fps: int
    video_bitrate: int
    audio_bitrate: int
    sampling_rate: int = 44100
    video_codec: str = "h264"
    audio_codec: str = "aac"
    container: str = "mov,mp4,m4a,3gp,3g2,mj2"
    md5: str = ""


@dataclass
class SimOutput:
    index: int
    definition: str
    container: str
    width: int
    height: int
    bitrate: int
    size: int
    duration: float
    fps: int
    succeed: bool
    finish_frac: float
    job_id: str = ""
    md5: str = ""
    url: str = ""
    path: str = ""
    status: OutputStatus = "WAITING"
    begin_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in ("SUCCESS", "FAIL")


@dataclass
class SimTask:
    ordinal: int
    id: str
    dialect: Dialect
    kind: str
    scenario: Scenario
    created_at: datetime
    waiting_s: float
    processing_s: float
    file_id: str
    file_name: str
    file_url: str
    media: Media
    outputs: list[SimOutput]
    session_id: str = ""
    session_context: str = ""
    notify_mode: Literal["Finish", "Change"] | None = None
    callback_url: str | None = None
    callback_key: str | None = None
    faults: FaultSpec | None = None
    extend: str | None = None
    trigger: str = "Manual"
    app_id: str = ""
    region: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    status: TaskStatus = TaskStatus.WAITING
    begin_at: datetime | None = None
    finish_at: datetime | None = None
    planned_begin: datetime = field(default_factory=lambda: datetime.now(UTC))
    planned_finish: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = 0
    callbacks_planned: int = 0

    @property
    def finished(self) -> bool:
        return self.status is TaskStatus.FINISH

    def output_due(self, output: SimOutput) -> datetime:
        return self.planned_begin + timedelta(seconds=self.processing_s * output.finish_frac)

    def next_due(self) -> datetime | None:
        if self.status is TaskStatus.WAITING:
            return self.planned_begin
        if self.status is TaskStatus.PROCESSING:
            pending = [self.output_due(o) for o in self.outputs if not o.done]
            return min([*pending, self.planned_finish])
        return None

    @property
    def succeeded_outputs(self) -> int:
        return sum(1 for o in self.outputs if o.status == "SUCCESS")

    @property
    def failed_outputs(self) -> int:
        return sum(1 for o in self.outputs if o.status == "FAIL")

    def summary(self) -> dict[str, Any]:
        return {
            "task_id": self.id,
            "dialect": str(self.dialect),
            "kind": self.kind,
            "scenario": self.scenario,
            "status": str(self.status),
            "file_id": self.file_id,
            "created_at": _iso(self.created_at),
            "begin_at": _iso(self.begin_at),
            "finish_at": _iso(self.finish_at),
            "planned_begin": _iso(self.planned_begin),
            "planned_finish": _iso(self.planned_finish),
            "outputs": [{"definition": o.definition, "status": o.status, "url": o.url or o.path} for o in self.outputs],
        }


ChangeKind = Literal["processing", "output", "finish"]


@dataclass(frozen=True)
class Change:
    """One state change of a task, at emulator time `at`: started, one output settled, finished."""

    task: SimTask
    kind: ChangeKind
    at: datetime
    output: SimOutput | None = None


class TaskFactory(Protocol):
    """Builds a `SimTask` from a request; one per dialect (see `bodies`)."""

    def build(self, request: TaskRequest, ordinal: int, created_at: datetime, seed: int) -> SimTask: ...


class Simulation:
    """All tasks, their schedule, and the listener that hears each change in time order."""

    def __init__(
        self,
        clock: EmulatorClock,
        factories: dict[Dialect, TaskFactory],
        seed: int = 0,
        listener: Callable[[Change], None] | None = None,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self._factories = factories
        self._tasks: dict[str, SimTask] = {}
        self._order: list[SimTask] = []
        self._heap: list[tuple[datetime, int, int]] = []  # (due, ordinal, version)
        self._listeners: list[Callable[[Change], None]] = [listener] if listener else []

    def subscribe(self, listener: Callable[[Change], None]) -> None:
        self._listeners.append(listener)

    # --- tasks -------------------------------------------------------------------------------------

    def create(self, request: TaskRequest, at: datetime | None = None) -> SimTask:
        """Create a task now (or at `at`, for scheduled scenario tasks), `age_s` in the past."""
        factory = self._factories[request.dialect]
        if request.task_id and request.task_id in self._tasks:
            raise ValueError(f"task_id {request.task_id!r} already exists")
        now = at or self.clock.now()
        task = factory.build(request, len(self._order) + 1, now - timedelta(seconds=request.age_s), self.seed)
        task.planned_begin = task.created_at + timedelta(seconds=request.durations.waiting_s)
        task.planned_finish = task.planned_begin + timedelta(seconds=request.durations.processing_s)
        self._tasks[task.id] = task
        self._order.append(task)
        self._schedule(task)
        return task

    def get(self, task_id: str) -> SimTask | None:
        return self._tasks.get(task_id)

    def tasks(self, dialect: Dialect | None = None) -> list[SimTask]:
        return [t for t in self._order if dialect is None or t.dialect == dialect]

    def __len__(self) -> int:
        return len(self._order)

    # --- time ----------------------------------------------------------------------------------------

    def tick(self, until: datetime | None = None) -> list[Change]:
        """Apply every step due on the clock (or by `until`), earliest first; tell the listeners."""
        now = until or self.clock.now()
        changes: list[Change] = []
        while self._heap and self._heap[0][0] <= now:
            due, ordinal, version = heapq.heappop(self._heap)
            task = self._order[ordinal - 1]
            if version != task.version or task.finished:
                continue
            step = self._step(task, due)
            changes.extend(step)
            self._schedule(task)
            self._emit(step)
        return changes

    def advance(self, task_id: str, to: TaskStatus | None = None) -> list[Change]:
        """Move one task on by hand: one step (WAITING->PROCESSING->FINISH), or straight to `to`."""
        task = self._tasks[task_id]
        self.tick()
        target = to or (TaskStatus.PROCESSING if task.status is TaskStatus.WAITING else TaskStatus.FINISH)
        now = self.clock.now()
        changes: list[Change] = []
        if task.status is TaskStatus.WAITING and target in (TaskStatus.PROCESSING, TaskStatus.FINISH):
            task.planned_begin = now
            task.planned_finish = now + timedelta(seconds=task.processing_s)
            step = self._start(task, now)
            changes.extend(step)
            self._emit(step)
        if task.status is TaskStatus.PROCESSING and target is TaskStatus.FINISH:
            task.planned_finish = now
            step = self._finish(task, now)
            changes.extend(step)
            self._emit(step)
        task.version += 1
        self._schedule(task)
        return changes

    def _schedule(self, task: SimTask) -> None:
        due = task.next_due()
        if due is not None:
            heapq.heappush(self._heap, (due, task.ordinal, task.version))

    def _emit(self, changes: Iterable[Change]) -> None:
        for change in changes:
            for listener in self._listeners:
                listener(change)

    def _step(self, task: SimTask, due: datetime) -> list[Change]:
        if task.status is TaskStatus.WAITING:
            return self._start(task, due)
        for output in task.outputs:
            if not output.done and task.output_due(output) <= due and task.output_due(output) < task.planned_finish:
                return [self._settle(task, output, due)]
        return self._finish(task, due)

    def _start(self, task: SimTask, at: datetime) -> list[Change]:
        task.status = TaskStatus.PROCESSING
        task.begin_at = at
        for output in task.outputs:
            output.status = "PROCESSING"
            output.begin_at = at
        return [Change(task, "processing", at)]

    def _settle(self, task: SimTask, output: SimOutput, at: datetime) -> Change:
        output.status = "SUCCESS" if output.succeed else "FAIL"
        output.finished_at = at
        return Change(task, "output", at, output)

    def _finish(self, task: SimTask, at: datetime) -> list[Change]:
        changes = [self._settle(task, o, at) for o in task.outputs if not o.done]
        task.status = TaskStatus.FINISH
        task.finish_at = at
        # Outputs settled only now carry the finish time; a dialect that folds them into the final
        # notification (Tencent Change mode) tells them apart by `finished_at == task.finish_at`.
        return [*changes, Change(task, "finish", at)]


def _iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None

"""What every dialect's body builders share: the notice/rendered shapes, compact JSON, number quirks,
and building a `SimTask` from a request with seeded, realistic media properties."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from receiver.emulator.config import Dialect, DialectConfig
from receiver.emulator.ids import IdSource
from receiver.emulator.simulation import Change, Media, OutputRequest, SimOutput, SimTask, TaskRequest

ZERO_TIME = "0000-00-00T00:00:00Z"  # Tencent 3.0 sends this literal for "not yet"


@dataclass
class Notice:
    """One callback a state change produces, before signing (signatures depend on the send time)."""

    event_type: str
    body: dict[str, Any]
    task: SimTask


@dataclass
class Rendered:
    """A callback ready for the wire: headers and exact body bytes."""

    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class DialectBodies(Protocol):
    """One provider's callbacks: which changes notify, and how a notice is signed and serialized."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def kinds(self) -> tuple[str, ...]: ...

    def build(self, request: TaskRequest, ordinal: int, created_at: datetime, seed: int) -> SimTask: ...

    def notices(self, change: Change, config: DialectConfig) -> list[Notice]: ...

    def render(self, notice: Notice, *, url: str, key: str | None, now: datetime, corrupt: bool) -> Rendered: ...


def compact(document: Any) -> bytes:
    """Compact JSON as the providers send it: no spaces, UTF-8, `/` not escaped."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def float32(value: float) -> float:
    """A double as Tencent prints float32 durations (`98.66159057617188`)."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def iso(when: datetime | None, zero: str = ZERO_TIME) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else zero


def unix(when: datetime | None) -> int:
    return int(when.timestamp()) if when else 0


def corrupt_hex(signature: str) -> str:
    """A wrong signature of the right shape: same length and alphabet, different value."""
    flipped = "0" if signature[:1] != "0" else "1"
    return flipped + signature[1:]


@dataclass(frozen=True)
class Rendition:
    """A default output shape: definition label/id, size, bitrate (bps), container."""

    definition: str
    width: int
    height: int
    bitrate: int
    container: str


def make_media(ids: IdSource) -> Media:
    duration = round(ids.uniform(20.0, 180.0), 6)
    video_bitrate = ids.randint(900_000, 2_500_000)
    audio_bitrate = ids.randint(64_000, 132_000)
    bitrate = video_bitrate + audio_bitrate
    return Media(
        duration=duration,
        size=int(bitrate / 8 * duration),
        width=1920,
        height=1080,
        bitrate=bitrate,
        fps=ids.rng.choice((24, 25, 30)),
        video_bitrate=video_bitrate,
        audio_bitrate=audio_bitrate,
        md5=ids.hex(32),
    )


def plan_outputs(request: TaskRequest, defaults: Sequence[Rendition], ids: IdSource, media: Media) -> list[SimOutput]:
    """The outputs a task will produce, with their planned outcome and finish order.

    success: all succeed; fail: all fail; partial: the last fails and the others succeed (a partial task
    needs two outputs, so one is added if only one was asked for). An output's own `fail` wins.
    """
    asked: list[OutputRequest] = list(request.outputs or [])
    if not asked:
        asked = [OutputRequest(definition=r.definition) for r in defaults]
    if request.scenario == "partial" and len(asked) < 2:
        asked.append(OutputRequest(definition=defaults[min(1, len(defaults) - 1)].definition))
    by_label = {r.definition: r for r in defaults}
    count = len(asked)
    outputs: list[SimOutput] = []
    for index, spec in enumerate(asked):
        base = by_label.get(str(spec.definition)) or defaults[min(index, len(defaults) - 1)]
        if spec.fail is not None:
            succeed = not spec.fail
        elif request.scenario == "success":
            succeed = True
        elif request.scenario == "fail":
            succeed = False
        else:
            succeed = index < count - 1
        bitrate = spec.bitrate or base.bitrate
        duration = media.duration
        outputs.append(
            SimOutput(
                index=index,
                definition=str(spec.definition if spec.definition is not None else base.definition),
                container=spec.container or base.container,
                width=spec.width or base.width,
                height=spec.height or base.height,
                bitrate=bitrate,
                size=int(bitrate / 8 * duration),
                duration=duration,
                fps=media.fps,
                succeed=succeed,
                finish_frac=(index + 1) / (count + 1),
                job_id=ids.hex(32),
                md5=ids.hex(32),
            )
        )
    return outputs


def check_kind(request: TaskRequest, kinds: Sequence[str]) -> str:
    kind = (request.kind or kinds[0]).strip().lower()
    if kind not in kinds:
        raise ValueError(f"kind {request.kind!r} is not one {request.dialect} emulates; choose from {list(kinds)}")
    return kind


def base_task(
    request: TaskRequest,
    *,
    ordinal: int,
    created_at: datetime,
    kind: str,
    task_id: str,
    file_id: str,
    file_name: str,
    file_url: str,
    media: Media,
    outputs: list[SimOutput],
    app_id: str,
    region: str,
) -> SimTask:
    return SimTask(
        ordinal=ordinal,
        id=request.task_id or task_id,
        dialect=request.dialect,
        kind=kind,
        scenario=request.scenario,
        created_at=created_at,
        waiting_s=request.durations.waiting_s,
        processing_s=request.durations.processing_s,
        file_id=request.file_id or file_id,
        file_name=request.file_name or file_name,
        file_url=file_url,
        media=media,
        outputs=outputs,
        session_id=request.session_id,
        session_context=request.session_context,
        notify_mode=request.notify_mode,
        callback_url=request.callback_url,
        callback_key=request.callback_key,
        faults=request.faults,
        extend=request.extend,
        trigger=request.trigger,
        app_id=app_id,
        region=region,
        extra=dict(request.extra),
    )


def notify_mode(task: SimTask, config: DialectConfig) -> str:
    """A task's own NotifyMode (from its submit call) wins over the dialect's configured default."""
    return task.notify_mode or config.notify_mode

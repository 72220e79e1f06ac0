"""What the field-by-field dialect tests share: stream builders and the empty value of every field.

A test names the fields it expects; every other field must equal its empty value here, so an unexpected
value fails the test.
"""

from __future__ import annotations

from typing import Any

from receiver.model import Output, Stream

EVENT_EMPTY: dict[str, Any] = {
    "task_id": None,
    "task_kind": None,
    "media_id": None,
    "status": None,
    "outcome": None,
    "provider_status": None,
    "error": None,
    "created_at": None,
    "started_at": None,
    "updated_at": None,
    "finished_at": None,
    "session": None,
    "extra": {},
}
OUTPUT_EMPTY: dict[str, Any] = {name: None for name in Output.model_fields if name not in ("key", "kind")}


def video(codec: str, bps: int, width: int, height: int, fps: float) -> Stream:
    return Stream(type="video", codec=codec, bitrate_bps=bps, width=width, height=height, fps=fps)


def audio(codec: str, bps: int, hz: int) -> Stream:
    return Stream(type="audio", codec=codec, bitrate_bps=bps, sample_rate_hz=hz)

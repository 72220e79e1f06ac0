"""Fault injection: what can go wrong on purpose, decided reproducibly from a seed.

Every decision is a pure function of (seed, what is being decided, which fault): a callback's fate depends
on its task's ordinal and its own sequence number within the task, a query's on the query counter. So the
same scenario with the same seed misbehaves the same way every run, whatever the timing of other tasks.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultSpec(BaseModel):
    """Probabilities (0..1) and ranges of each fault; set globally or per task (a task's spec wins)."""

    model_config = ConfigDict(extra="forbid")

    drop: float = Field(0.0, ge=0, le=1, description="Callback is never sent.")
    duplicate: float = Field(0.0, ge=0, le=1, description="Callback is sent twice.")
    delay: float = Field(0.0, ge=0, le=1, description="Callback waits delay_s (range) before its first try.")
    delay_s: tuple[float, float] = Field((0.5, 2.0), description="Range of the delay, real seconds.")
    reorder: float = Field(0.0, ge=0, le=1, description="Callback is held back and sent after the next one.")
    corrupt_signature: float = Field(0.0, ge=0, le=1, description="Callback carries a wrong signature.")
    truncate_body: float = Field(0.0, ge=0, le=1, description="Callback body is cut in half.")
    invalid_body: float = Field(0.0, ge=0, le=1, description="Callback body is not valid JSON.")
    slow_answer: float = Field(0.0, ge=0, le=1, description="A query answer is held for slow_answer_s.")
    slow_answer_s: float = Field(12.0, ge=0, description="Longer than a client's patience (SDKs: ~10 s).")
    query_5xx: float = Field(0.0, ge=0, le=1, description="A query gets an HTTP 5xx.")
    query_rate_limit: float = Field(0.0, ge=0, le=1, description="A query gets the provider's rate-limit error.")

    @model_validator(mode="after")
    def _range_ordered(self) -> FaultSpec:
        low, high = self.delay_s
        if low < 0 or high < low:
            raise ValueError(f"delay_s must be (low, high) with 0 <= low <= high, got {self.delay_s!r}")
        return self

    def any_callback_fault(self) -> bool:
        return any(
            (
                self.drop,
                self.duplicate,
                self.delay,
                self.reorder,
                self.corrupt_signature,
                self.truncate_body,
                self.invalid_body,
            )
        )


CALLBACK_FAULTS = ("drop", "duplicate", "delay", "reorder", "corrupt_signature", "truncate_body", "invalid_body")
QUERY_FAULTS = ("slow_answer", "query_5xx", "query_rate_limit")


def unit(seed: int, *parts: object) -> float:
    """A reproducible number in [0, 1) for (seed, parts); stable across processes (no `hash()`)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode("utf-8")).digest()
    (value,) = struct.unpack(">Q", digest[:8])
    return float(value) / float(1 << 64)


@dataclass(frozen=True)
class CallbackPlan:
    """Which faults hit one callback. `delay_s` is 0 unless delayed."""

    drop: bool = False
    duplicate: bool = False
    delay_s: float = 0.0
    reorder: bool = False
    corrupt_signature: bool = False
    truncate_body: bool = False
    invalid_body: bool = False

    def applied(self) -> list[str]:
        names = [
            n
            for n in ("drop", "duplicate", "reorder", "corrupt_signature", "truncate_body", "invalid_body")
            if getattr(self, n)
        ]
        if self.delay_s > 0:
            names.append("delay")
        return names


@dataclass(frozen=True)
class QueryPlan:
    slow_answer_s: float = 0.0
    error_5xx: bool = False
    rate_limit: bool = False

    def applied(self) -> list[str]:
        names = []
        if self.slow_answer_s > 0:
            names.append("slow_answer")
        if self.error_5xx:
            names.append("query_5xx")
        if self.rate_limit:
            names.append("query_rate_limit")
        return names


def plan_callback(seed: int, spec: FaultSpec, task_ordinal: int, seq: int) -> CallbackPlan:
    """Decide the faults of the `seq`-th callback of the task created `task_ordinal`-th."""

    def hit(name: str, p: float) -> bool:
        return p > 0 and unit(seed, "callback", task_ordinal, seq, name) < p

    if hit("drop", spec.drop):
        return CallbackPlan(drop=True)
    delay = 0.0
    if hit("delay", spec.delay):
        low, high = spec.delay_s
        delay = low + (high - low) * unit(seed, "callback", task_ordinal, seq, "delay_value")
    truncate = hit("truncate_body", spec.truncate_body)
    return CallbackPlan(
        duplicate=hit("duplicate", spec.duplicate),
        delay_s=delay,
        reorder=hit("reorder", spec.reorder),
        corrupt_signature=hit("corrupt_signature", spec.corrupt_signature),
        truncate_body=truncate,
        invalid_body=not truncate and hit("invalid_body", spec.invalid_body),
    )


def plan_query(seed: int, spec: FaultSpec, query_seq: int) -> QueryPlan:
    """Decide the faults of the `query_seq`-th query the emulator serves."""

    def hit(name: str, p: float) -> bool:
        return p > 0 and unit(seed, "query", query_seq, name) < p

    error_5xx = hit("query_5xx", spec.query_5xx)
    return QueryPlan(
        slow_answer_s=spec.slow_answer_s if hit("slow_answer", spec.slow_answer) else 0.0,
        error_5xx=error_5xx,
        rate_limit=not error_5xx and hit("query_rate_limit", spec.query_rate_limit),
    )


def truncate(body: bytes) -> bytes:
    """Half a body: what a connection cut mid-write leaves."""
    return body[: max(1, len(body) // 2)]


def invalidate(body: bytes) -> bytes:
    """A body that is no longer JSON (a trailing comma and a stray byte), same length order as the original."""
    if body.endswith(b"}"):
        return body[:-1] + b",\x00}"
    return body + b",\x00"

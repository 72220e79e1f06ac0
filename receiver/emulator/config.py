"""What an emulator run is configured with: credentials, per-dialect callback settings, time, faults.

Everything has a default so `vodhook emulate` with no flags works: one well-known credential pair
(`test`/`test`, like LocalStack's), a clock that runs at wall speed, no callbacks until a URL is given.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from receiver.emulator.faults import FaultSpec

DEFAULT_SECRET_ID = "test"
DEFAULT_SECRET_KEY = "test"


class Dialect(StrEnum):
    """The four provider surfaces the emulator speaks (same names as the receiver's dialects)."""

    TENCENT_VOD_V2 = "tencent-vod-v2"
    TENCENT_VOD_V3 = "tencent-vod-v3"
    TENCENT_MPS = "tencent-mps"
    ALIYUN_VOD = "aliyun-vod"


AckRule = Literal["any", "2xx", "200"]


class CredentialConfig(BaseModel):
    """One secret id/key pair the query APIs accept (Tencent SecretId/SecretKey, Alibaba AccessKey)."""

    model_config = ConfigDict(extra="forbid")

    secret_id: str = Field(min_length=1)
    secret_key: str = Field(min_length=1)


class DialectConfig(BaseModel):
    """How one dialect notifies: where callbacks go, what signs them, push or reliable (pull) mode.

    `timeout_s`, `attempts`, `retry_interval_s` and `ack` default to the provider's documented policy
    (see `delivery.POLICIES`); set them only to shorten a test or to model a stricter provider.
    """

    model_config = ConfigDict(extra="forbid")

    callback_url: str | None = None
    callback_key: str | None = Field(
        None, description="VOD 3.0 SignKey, MPS NotifyKey or Alibaba AuthKey; legacy callbacks are unsigned."
    )
    mode: Literal["push", "pull"] = Field("push", description="pull = reliable callbacks via PullEvent(s).")
    notify_mode: Literal["Finish", "Change"] = Field(
        "Finish", description="Tencent: one callback at the end, or one per state change."
    )
    app_id: str | None = Field(None, description="Tencent AppId in ids and URLs; Alibaba ignores it.")
    region: str | None = None
    timeout_s: float | None = Field(None, gt=0)
    attempts: int | None = Field(None, ge=1, le=20)
    retry_interval_s: float | None = Field(None, ge=0)
    ack: AckRule | None = None
    user_agent: str | None = None


class EmulatorConfig(BaseModel):
    """The whole emulator configuration; `vodhook emulate` flags and scenario files fill it."""

    model_config = ConfigDict(extra="forbid")

    credentials: list[CredentialConfig] = Field(
        default_factory=lambda: [CredentialConfig(secret_id=DEFAULT_SECRET_ID, secret_key=DEFAULT_SECRET_KEY)]
    )
    dialects: dict[Dialect, DialectConfig] = Field(default_factory=dict)
    seed: int = 0
    time_scale: float = Field(
        1.0, ge=0, description="Emulated seconds per real second; 0 freezes the clock (move it by hand)."
    )
    start: datetime | None = Field(None, description="Emulator clock at startup (default: now, UTC).")
    tick_s: float = Field(0.05, gt=0, description="How often (real seconds) the simulation looks at the clock.")
    faults: FaultSpec = Field(default_factory=FaultSpec)
    signature_tolerance_s: float | None = Field(
        None, ge=0, description="Override the providers' timestamp windows (legacy 2 h, TC3 5 min, Alibaba 15 min)."
    )
    enforce_rate_limits: bool = True
    enforce_retention: bool = True
    pull_wait_s: float = Field(
        5.0, ge=0, description="Long-poll wait of PullEvent(s) on an empty queue (real seconds)."
    )
    callback_concurrency: int = Field(
        64, ge=1, le=10_000, description="Callbacks in flight at once (a clock jump can finish many tasks)."
    )
    reorder_hold_s: float = Field(
        2.0, ge=0, description="How long (real seconds) a reordered callback waits for a successor."
    )

    @field_validator("credentials")
    @classmethod
    def _at_least_one(cls, value: list[CredentialConfig]) -> list[CredentialConfig]:
        if not value:
            raise ValueError("credentials: at least one secret id/key pair is needed")
        return value

    def dialect(self, name: Dialect) -> DialectConfig:
        return self.dialects.get(name) or DialectConfig()

    def keyring(self) -> dict[str, str]:
        return {c.secret_id: c.secret_key for c in self.credentials}

"""Per-dialect builders of callbacks and query answers; all of them read the same `SimTask` state."""

from __future__ import annotations

from receiver.emulator.bodies.aliyun import AliyunBodies
from receiver.emulator.bodies.common import DialectBodies, Notice, Rendered
from receiver.emulator.bodies.tencent_mps import TencentMpsBodies
from receiver.emulator.bodies.tencent_v2 import TencentV2Bodies
from receiver.emulator.bodies.tencent_v3 import TencentV3Bodies
from receiver.emulator.config import Dialect, EmulatorConfig


def make_bodies(config: EmulatorConfig) -> dict[Dialect, DialectBodies]:
    return {
        Dialect.TENCENT_VOD_V2: TencentV2Bodies(config.dialect(Dialect.TENCENT_VOD_V2)),
        Dialect.TENCENT_VOD_V3: TencentV3Bodies(config.dialect(Dialect.TENCENT_VOD_V3)),
        Dialect.TENCENT_MPS: TencentMpsBodies(config.dialect(Dialect.TENCENT_MPS)),
        Dialect.ALIYUN_VOD: AliyunBodies(config.dialect(Dialect.ALIYUN_VOD)),
    }


__all__ = ["DialectBodies", "Notice", "Rendered", "make_bodies"]

"""The provider emulator (`vodhook emulate`): Tencent VOD legacy and API 3.0, Tencent MPS and Alibaba VOD query
APIs that the official SDKs accept unchanged but for the endpoint, simulated tasks on a movable clock,
byte-realistic callbacks with each provider's retry policy, seeded fault injection and a ledger.

Start with `create_emulator_app(EmulatorConfig(...))` (app.py); the default credential is `test` / `test`.
"""

from receiver.emulator.app import create_emulator_app
from receiver.emulator.config import EmulatorConfig

__all__ = ["EmulatorConfig", "create_emulator_app"]

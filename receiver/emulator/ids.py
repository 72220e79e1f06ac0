"""Realistic identifiers, drawn from seeded generators so a replay produces the same ids.

Shapes follow the references: Tencent FileIds are 19-digit strings (above 2^53, never a JS number), task
ids are `<AppId>-<kind>-<32 hex><suffix>`, Alibaba ids are 32 lowercase hex, Alibaba RequestIds uppercase
UUIDs, Tencent RequestIds lowercase UUIDs.
"""

from __future__ import annotations

import hashlib
import random
import uuid


def derived_seed(seed: int, *parts: object) -> int:
    """A stable 64-bit seed for (seed, parts); `hash()` is salted per process, so it is not used."""
    return int.from_bytes(hashlib.sha256(repr((seed, *parts)).encode("utf-8")).digest()[:8], "big")


class IdSource:
    """A seeded generator of the id shapes the providers use."""

    def __init__(self, seed: int, *parts: object) -> None:
        self.rng = random.Random(derived_seed(seed, *parts))

    def hex(self, length: int = 32) -> str:
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    def digits(self, length: int) -> str:
        first = self.rng.choice("123456789")
        return first + "".join(self.rng.choice("0123456789") for _ in range(length - 1))

    def file_id(self) -> str:
        """Tencent VOD FileId: 19 digits, e.g. `5285890809593139008`."""
        return str(self.rng.randrange(3_000_000_000_000_000_000, 5_400_000_000_000_000_000))

    def event_handle(self) -> str:
        """Tencent reliable-callback handle: an 18-19 digit numeric string."""
        return str(self.rng.randrange(100_000_000_000_000_000, 9_223_372_036_854_775_807))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def aliyun_request_id(self) -> str:
        return self.uuid().upper()

    def tencent_request_id(self) -> str:
        return self.uuid()

    def aliyun_source_name(self) -> str:
        """Alibaba source object name: `<8hex>-<11hex>-<4hex>-<4hex>-<3hex>-<5hex>`."""
        return "-".join(self.hex(n) for n in (8, 11, 4, 4, 3, 5))

    def uniform(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    def randint(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

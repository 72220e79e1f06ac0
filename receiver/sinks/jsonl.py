"""The embedded sink: one JSON message per line, appended to a file and fsynced, rotated by size.

Needs no broker, so it is what a single-machine setup forwards to (`type = "jsonl"`). Each line is the
message exactly as the other sinks send it; a redelivery appends the same event again. Rotation renames
`<file>` to `<file>.1` (and `.1` to `.2`, …), keeping `keep_files` old files.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from receiver.sinks.base import Delivery, SendResult, Sink, SinkDown


class JsonlSink(Sink):
    def __init__(self, name: str, path: Path, *, max_bytes: int, keep_files: int) -> None:
        super().__init__(name)
        self.path = path
        self.max_bytes = max_bytes
        self.keep_files = keep_files

    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        lines = [delivery.body + b"\n" for delivery in batch]
        try:
            await asyncio.to_thread(self._append, lines)
        except OSError as exc:
            raise SinkDown(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from exc
        return [None] * len(batch)

    def _append(self, lines: list[bytes]) -> None:
        """Open, append, fsync, close: reopening per batch follows an outside rotation (logrotate) too."""
        data = b"".join(lines)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > self.max_bytes:
            self._rotate()
        with open(self.path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def _rotate(self) -> None:
        oldest = self.rotated(self.keep_files)
        if oldest.exists():
            oldest.unlink()
        for number in range(self.keep_files - 1, 0, -1):
            older = self.rotated(number)
            if older.exists():
                older.rename(self.rotated(number + 1))
        self.path.rename(self.rotated(1))

    def rotated(self, number: int) -> Path:
        """The `number`-th newest rotated file (1 is the one rotated last)."""
        return self.path.with_name(f"{self.path.name}.{number}")

    async def close(self) -> None:
        """Nothing stays open between batches."""

"""Where a callback's CPU goes: each stage of the receiver's path, in one process, on the ingest benchmark's bodies.

`bench.ingest` measures the whole receiver over HTTP; this script takes its stages apart, so that a change to one
stage can be judged on its own, and so that the floor of the whole is visible: no HTTP server can answer with
less CPU than the bare endpoint, and no receiver that stores and processes each callback with less than the sum
of these stages. Each stage is timed in CPU µs per callback, with `json.loads` of the same bodies, timed in
turns with it in the same run, as the baseline (these machines are noisy):

- capture: `Store.capture` of `--group` callbacks at once (they share a group commit, `synchronous=FULL`);
- hand-over: packing a committed capture for the worker's pipe and unpacking it there;
- read-back: reading a pending capture back from the store (what the worker does with no hand-over);
- normalize: `Pipeline.process`, bytes to normalized events;
- apply: storing events and task states (`Store.apply`), committed in batches of `--group`.

    python -m bench.stages [--count 3000] [--group 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.ingest import bodies
from receiver.clock import SystemClock
from receiver.config import load_settings
from receiver.ingest import Pipeline
from receiver.model import Origin
from receiver.store.base import Capture, NewCapture
from receiver.store.sqlite import SqliteStore
from receiver.worker import pack_capture, unpack_capture

HEADERS = {"host": "127.0.0.1:8080", "content-type": "application/json", "content-length": "783"}


def new_capture(body: bytes) -> NewCapture:
    return NewCapture(
        source="tencent-vod-v2",
        dialect="tencent-vod-v2",
        received_at=datetime.now(UTC),
        method="POST",
        path="/callbacks/tencent-vod-v2",
        query="",
        headers=HEADERS,
        body=body,
        remote="127.0.0.1",
        verification="unsigned",
        origin=Origin.CALLBACK,
    )


def cpu_us(work: Callable[[], object], count: int) -> float:
    began = time.process_time()
    work()
    return (time.process_time() - began) / count * 1e6


async def one_round(raw: list[bytes], group: int, folder: Path) -> dict[str, float]:
    """CPU µs per callback of each stage, on a fresh store."""
    count = len(raw)
    store = SqliteStore(folder / "stages.sqlite3")
    await store.open()
    try:
        pipeline = Pipeline(store, load_settings(data_dir=folder).sources, SystemClock())
        news = [new_capture(body) for body in raw]
        times: dict[str, float] = {"json.loads": cpu_us(lambda: [json.loads(body) for body in raw], count)}

        began = time.process_time()
        ids: list[int] = []
        for start in range(0, count, group):
            ids += await asyncio.gather(*(store.capture(new) for new in news[start : start + group]))
        times["capture"] = (time.process_time() - began) / count * 1e6

        captures = [Capture(**vars(new), id=capture_id) for new, capture_id in zip(news, ids, strict=True)]
        times["hand-over"] = cpu_us(lambda: [unpack_capture(pack_capture(capture)) for capture in captures], count)

        began = time.process_time()
        after = 0
        while found := await store.pending_captures(limit=group, after_id=after):
            after = found[-1].id
        times["read-back"] = (time.process_time() - began) / count * 1e6

        results: list[object] = []
        times["normalize"] = cpu_us(lambda: results.extend(pipeline.process(capture) for capture in captures), count)

        began = time.process_time()
        for start in range(0, count, group):
            await store.apply(results[start : start + group])  # type: ignore[arg-type]
        times["apply"] = (time.process_time() - began) / count * 1e6
        return times
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=3000, help="callbacks per round (default 3000)")
    parser.add_argument("--group", type=int, default=32, help="callbacks per commit (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on a fresh store (default 3)")
    args = parser.parse_args()
    raw = [body.encode() for body in bodies(args.count)]
    rounds = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            rounds.append(asyncio.run(one_round(raw, args.group, Path(folder))))
    print(
        f"CPU per callback by stage: {args.count} legacy VOD callbacks, commits of {args.group},"
        f" median of {args.rounds} rounds"
    )
    baseline = statistics.median(r["json.loads"] for r in rounds)
    total = 0.0
    for stage in rounds[0]:
        value = statistics.median(r[stage] for r in rounds)
        if stage not in ("json.loads", "read-back"):
            total += value
        print(f"  {stage:<11}{value:>8.1f} µs{value / baseline:>8.1f}x json.loads")
    print(f"  {'sum':<11}{total:>8.1f} µs  (capture + hand-over + normalize + apply; HTTP comes on top)")


if __name__ == "__main__":
    main()

"""Normalization cost per payload, per dialect, as a ratio of `json.loads` on the same bytes.

For every fixture under fixtures/<dialect>/ (query answers under query/ with their API as context), time
`normalize_body` (`decode` + `normalize`, through the dialect's bytes-level fast path where it has one) and
`json.loads` on the same body in turns (paired runs, see `paired_times`), and print per dialect the
median, worst and total ratio (total = sum of normalize times / sum of json.loads times). Bodies a dialect
quarantines (`Unidentifiable`) and bodies json.loads cannot read (Base64) are counted as skipped: they have
no ratio. The target is ≤ 4×.

    python -m bench.normalize                 # every dialect
    python -m bench.normalize tencent-vod-v3  # one dialect, with a line per fixture
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from receiver.dialects import registry
from receiver.dialects.base import Dialect, NormalizeContext, Unidentifiable
from receiver.model import Origin

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TARGET = 4.0


@dataclass(frozen=True)
class Sample:
    name: str
    size: int
    json_s: float
    normalize_s: float

    @property
    def ratio(self) -> float:
        return self.normalize_s / self.json_s


def fixture_context(path: Path, root: Path) -> NormalizeContext:
    """A query answer (under query/) is normalized as a poll of the API its file is named after."""
    query = path.parent.name == "query" and path.parent.parent == root
    return NormalizeContext(
        source="bench",
        origin=Origin.POLL if query else Origin.CALLBACK,
        received_at=datetime(2024, 1, 1, tzinfo=UTC),
        api=path.stem.split("__")[0] if query else None,
        task_id_hint="bench-task" if query else None,
    )


def fixtures_of(dialect_name: str) -> list[Path]:
    root = FIXTURES / dialect_name
    return sorted(p for p in root.rglob("*.json") if not p.name.endswith(".headers.json"))


def paired_times(
    baseline: Callable[[], object], call: Callable[[], object], number: int, repeat: int
) -> tuple[float, float]:
    """CPU seconds per call of `baseline` (json.loads) and of `call` (normalization).

    CPU time rather than wall time, so other processes disturb the figures less. The two are timed in turns,
    `repeat` runs of `number` calls each, and the ratio of each pair of runs is kept: a shared machine speeds
    up and slows down over seconds, which shifts both sides of a pair alike. The baseline's best run is
    returned with the call's time as the median of the paired ratios times that run.
    """
    baseline_runs: list[float] = []
    ratios: list[float] = []
    for _ in range(repeat):
        baseline_s = timeit.timeit(baseline, number=number, timer=time.process_time)
        call_s = timeit.timeit(call, number=number, timer=time.process_time)
        baseline_runs.append(baseline_s / number)
        ratios.append(call_s / baseline_s)
    best = min(baseline_runs)
    return best, best * statistics.median(ratios)


def measure(dialect: Dialect, path: Path, number: int, repeat: int) -> Sample | str:
    """The fixture's timings, or why it has none ("quarantined", "not JSON")."""
    body = path.read_bytes()
    ctx = fixture_context(path, FIXTURES / dialect.name)

    def normalize() -> object:
        return dialect.normalize_body(body, ctx)  # = normalize(decode(body)), with the dialect's fast path

    try:
        normalize()
    except Unidentifiable:
        return "quarantined"
    baseline = _json_baseline(body)
    if baseline is None:
        return "not JSON"
    json_s, normalize_s = paired_times(baseline, normalize, number, repeat)
    return Sample(
        name=str(path.relative_to(FIXTURES / dialect.name)),
        size=len(body),
        json_s=json_s,
        normalize_s=normalize_s,
    )


def _json_baseline(body: bytes) -> Callable[[], object] | None:
    """`json.loads` on the body; non-strict for bodies with raw control characters in strings (a doc quirk);
    None for bodies json.loads cannot read at all (Base64 from a queue), which have no baseline."""
    for strict in (True, False):
        try:
            json.loads(body, strict=strict)
        except ValueError:
            continue
        return lambda: json.loads(body, strict=strict)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("dialects", nargs="*", help="dialect names (default: every dialect with fixtures)")
    parser.add_argument("--number", type=int, default=100, help="calls per timing run (default 100)")
    parser.add_argument("--repeat", type=int, default=9, help="paired timing runs per fixture (default 9)")
    args = parser.parse_args(argv)
    dialects = registry()
    names = args.dialects or [name for name in dialects if (FIXTURES / name).is_dir()]
    verbose = bool(args.dialects)
    rows = []
    for name in names:
        dialect = dialects[name]
        samples: list[Sample] = []
        skipped = 0
        for path in fixtures_of(name):
            sample = measure(dialect, path, args.number, args.repeat)
            if isinstance(sample, str):
                skipped += 1
                if verbose:
                    print(f"  {name:16} {path.relative_to(FIXTURES / name)!s:55} {sample}")
                continue
            samples.append(sample)
            if verbose:
                print(f"  {name:16} {sample.name:55} {sample.size:7d} B  {sample.ratio:5.2f}×")
        if not samples:
            rows.append((name, 0, skipped, "-", "-", "-", "-"))
            continue
        ratios = [s.ratio for s in samples]
        total = sum(s.normalize_s for s in samples) / sum(s.json_s for s in samples)
        per_payload_us = statistics.median(s.normalize_s for s in samples) * 1e6
        rows.append(
            (
                name,
                len(samples),
                skipped,
                f"{statistics.median(ratios):.2f}×",
                f"{max(ratios):.2f}×",
                f"{total:.2f}×",
                f"{per_payload_us:.0f}",
            )
        )
    header = ("dialect", "fixtures", "skipped", "median", "worst", "total", "median µs")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print(f"normalization cost as a ratio of json.loads on the same bytes (target ≤ {TARGET:g}×)")
    for row in [header, *rows]:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

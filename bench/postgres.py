"""PostgreSQL store benchmark: sustained ingest with 1 and 2 replicas, against SQLite and the bare endpoint.

Every server runs as uvicorn processes and gets the same load: two load-generator processes (`bench._load`),
each with half the connections, aimed at the replicas in turn (both at the one replica when there is one),
so the load's own CPU cost is the same in every row. The figure that counts is the *sustained* rate:
callbacks acknowledged *and processed* (normalized, task state stored) over the whole run until no capture
is pending. Ratios are against the bare endpoint with as many processes, measured in the same run (these
machines are noisy). SQLite is one process per data dir by design, so it has no 2-replica row.

`python -m bench.postgres [--seconds 10] [--connections 32] [--rounds 3] [--url postgresql://…/test]`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median

import psycopg

from bench.ingest import HERE, bodies, free_port, start

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
Row = tuple[str, int]  # (server, replicas)


def load_many(urls: list[str], seconds: float, connections: int, payloads: list[str]) -> dict[str, float]:
    """Two load generators at once (half the connections each), over the given URLs in turn."""
    targets = [urls[i % len(urls)] for i in range(2)]

    def one(url: str) -> dict[str, float]:
        result = subprocess.run(
            [sys.executable, "-m", "bench._load", url, str(seconds), str(connections // 2)],
            input=json.dumps(payloads).encode(),
            capture_output=True,
            check=True,
            cwd=HERE.parent,
        )
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    with ThreadPoolExecutor(len(targets)) as pool:
        parts = list(pool.map(one, targets))
    elapsed = max(part["elapsed"] for part in parts)
    ok = sum(part["ok"] for part in parts)
    return {
        "ok": ok,
        "errors": sum(part["errors"] for part in parts),
        "elapsed": elapsed,
        "rate": ok / elapsed,
        "p50_ms": max(part["p50_ms"] for part in parts),
        "p99_ms": max(part["p99_ms"] for part in parts),
    }


def sustained(
    urls: list[str], seconds: float, connections: int, payloads: list[str], pending: Callable[[], int]
) -> dict[str, float]:
    """Load, then wait until nothing is pending: acknowledged and processed per second over the whole run."""
    began = time.perf_counter()
    measured = load_many(urls, seconds, connections, payloads)
    measured["backlog_at_end"] = pending()
    while pending():
        time.sleep(0.05)
    measured["sustained"] = measured["ok"] / (time.perf_counter() - began)
    return measured


def sqlite_pending(db: Path) -> Callable[[], int]:
    def count() -> int:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return int(conn.execute("SELECT count(*) FROM captures WHERE state = 'pending'").fetchone()[0])

    return count


def postgres_pending(url: str) -> Callable[[], int]:
    def count() -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM captures WHERE state = 'pending'").fetchone()
            return int(row[0]) if row else 0

    return count


def serve_vodhook(data_dir: Path, store: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/callbacks/tencent-vod-v2"
    command = [sys.executable, "-m", "receiver", "--data-dir", str(data_dir), "serve", "--port", str(port)]
    return start(command, url, env={"VODHOOK_LOG_LEVEL": "warning", "VODHOOK_STORE": store}), url


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait()


def one_round(seconds: float, connections: int, pg_url: str, payloads: list[str]) -> dict[Row, dict[str, float]]:
    """Every configuration once, in the same minute, so their ratios share the machine's mood."""
    results: dict[Row, dict[str, float]] = {}
    schema = f"vh_bench_{secrets.token_hex(4)}"
    store_url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for replicas in (1, 2):
                processes, urls = [], []
                try:
                    for _ in range(replicas):
                        port = free_port()
                        url = f"http://127.0.0.1:{port}/callbacks/tencent-vod-v2"
                        command = [sys.executable, "-m", "bench._servers", "bare", str(port), tmp]
                        processes.append(start(command, url))
                        urls.append(url)
                    results[("bare", replicas)] = load_many(urls, seconds, connections, payloads)
                finally:
                    stop(processes)

            process, url = serve_vodhook(Path(tmp) / "sqlite", "sqlite")
            try:
                pending = sqlite_pending(Path(tmp) / "sqlite" / "vodhook.sqlite3")
                results[("sqlite", 1)] = sustained([url], seconds, connections, payloads, pending)
            finally:
                stop([process])

            for replicas in (1, 2):
                with psycopg.connect(pg_url, autocommit=True) as admin:  # each run starts on empty tables
                    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                    admin.execute(f"CREATE SCHEMA {schema}")
                started = [serve_vodhook(Path(tmp) / f"pg{replicas}-{n}", store_url) for n in range(replicas)]
                try:
                    urls = [url for _, url in started]
                    results[("postgres", replicas)] = sustained(
                        urls, seconds, connections, payloads, postgres_pending(store_url)
                    )
                finally:
                    stop([process for process, _ in started])
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return results


def run(seconds: float, connections: int, pg_url: str, rounds: int) -> None:
    payloads = bodies()
    measured = [one_round(seconds, connections, pg_url, payloads) for _ in range(rounds)]

    def rate(result: dict[str, float]) -> float:
        return result.get("sustained", result["rate"])

    def ratio(top: Row, bottom: Row) -> float:
        """The median over rounds of a ratio taken within each round."""
        return median(rate(r[top]) / rate(r[bottom]) for r in measured)

    print(
        f"PostgreSQL ingest benchmark: {rounds} rounds of {seconds:.0f} s per server, {connections} connections,"
        " legacy VOD callbacks; medians over the rounds"
    )
    print(f"{'server':<10}{'replicas':>9}{'acked/s':>10}{'sustained/s':>13}{'vs bare':>9}{'p99 ms':>9}{'errors':>8}")
    for row in measured[0]:
        name, replicas = row
        print(
            f"{name:<10}{replicas:>9}{median(r[row]['rate'] for r in measured):>10.0f}"
            f"{median(rate(r[row]) for r in measured):>13.0f}{ratio(row, ('bare', replicas)):>9.2f}"
            f"{median(r[row]['p99_ms'] for r in measured):>9.1f}{sum(r[row]['errors'] for r in measured):>8.0f}"
        )
    print(
        f"postgres/sqlite, 1 replica, sustained: {ratio(('postgres', 1), ('sqlite', 1)):.2f}; "
        f"postgres 2 replicas/1: {ratio(('postgres', 2), ('postgres', 1)):.2f} "
        f"(bare 2/1: {ratio(('bare', 2), ('bare', 1)):.2f}; 2 cores, no scaling target)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="Run every configuration this many times.")
    parser.add_argument("--url", default=DEFAULT_URL, help="A PostgreSQL database to make a scratch schema in.")
    args = parser.parse_args()
    run(args.seconds, args.connections, args.url, args.rounds)

"""Ingest benchmark: vodhook against a bare Starlette endpoint and a naive commit-per-request SQLite receiver.

All three run as uvicorn processes and get the same load from a separate process: wrk when it is installed
(with bench/wrk_bodies.lua), else `bench._load`. The figure
that counts for vodhook is the *sustained* rate: callbacks acknowledged and processed (normalized, task
state stored) over the whole run until the backlog is empty. Ratios are against the bare endpoint measured in
the same run, since these machines are noisy.
`python -m bench.ingest [--seconds 10] [--connections 32] [--load auto|wrk|python]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bodies(count: int = 2000) -> list[str]:
    """Legacy VOD ProcedureStateChanged callbacks, each of its own task, with two sub-task outputs."""
    out = []
    for index in range(count):
        out.append(
            json.dumps(
                {
                    "version": "4.0",
                    "eventType": "ProcedureStateChanged",
                    "data": {
                        "vodTaskId": f"1400104074-procedurev2-bench{index:08d}t0",
                        "status": "FINISH",
                        "errCode": 0,
                        "message": "",
                        "fileId": f"52858908095931{index:05d}",
                        "metaData": {
                            "size": 10556,
                            "container": "mp4",
                            "bitrate": 246035,
                            "height": 480,
                            "width": 640,
                            "duration": 3601,
                            "videoStreamList": [
                                {"bitrate": 246000, "height": 480, "width": 640, "codec": "h264", "fps": 22}
                            ],
                        },
                        "processTaskList": [
                            {
                                "taskType": "Transcode",
                                "status": "SUCCESS",
                                "errCode": 0,
                                "message": "",
                                "input": {"definition": 20},
                                "output": {
                                    "url": f"http://x.vod2.myqcloud.com/{index}/f20.mp4",
                                    "size": 10556,
                                    "container": "mp4",
                                    "bitrate": 246035,
                                    "height": 480,
                                    "width": 640,
                                    "duration": 3601,
                                },
                            },
                            {
                                "taskType": "SampleSnapshot",
                                "status": "SUCCESS",
                                "errCode": 0,
                                "message": "",
                                "input": {"definition": 10},
                                "output": {"imageUrls": [f"http://x/{index}/1.png"]},
                            },
                        ],
                    },
                },
                separators=(",", ":"),
            )
        )
    return out


def start(command: list[str], url: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(url, content=b"{}", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not start")


#: Where the load comes from: wrk when it is installed (`apt install wrk`), else `bench._load`, the Python client.
LOAD_TOOLS = ("auto", "wrk", "python")


def load_tool(asked: str) -> str:
    """The load generator to use: `asked`, or for "auto" wrk when it is on PATH (the issue's preference: a C
    client leaves the cores to the servers under test), else the Python client."""
    if asked == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if asked == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--load wrk: wrk is not on PATH (Debian: apt install wrk)")
    return asked


def load(url: str, seconds: float, connections: int, payloads: list[str], tool: str = "auto") -> dict[str, float]:
    """Run the load generator (`load_tool(tool)`); its own CPU time per request goes in the result as
    `load_cpu_us`."""
    tool = load_tool(tool)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if tool == "wrk":
        measured = _wrk(url, seconds, connections, payloads)
    else:
        measured = _python_load(url, seconds, connections, payloads)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    measured["load_cpu_us"] = spent / max(1.0, measured["ok"]) * 1e6
    return measured


def _python_load(url: str, seconds: float, connections: int, payloads: list[str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "bench._load", url, str(seconds), str(connections)],
        input=json.dumps(payloads).encode(),
        capture_output=True,
        check=True,
        cwd=HERE.parent,
    )
    measured: dict[str, float] = json.loads(result.stdout)
    return measured


def _wrk(url: str, seconds: float, connections: int, payloads: list[str]) -> dict[str, float]:
    """wrk with bench/wrk_bodies.lua, which cycles through the payloads and prints its figures as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8") as lines:
        lines.write("".join(payload + "\n" for payload in payloads))  # each payload is one line of compact JSON
        lines.flush()
        result = subprocess.run(
            [
                "wrk",
                f"--threads={min(2, connections)}",
                f"--connections={connections}",
                f"--duration={seconds:g}s",
                f"--script={HERE / 'wrk_bodies.lua'}",
                url,
            ],
            env={**os.environ, "WRK_BODIES": lines.name},
            capture_output=True,
            check=True,
            text=True,
        )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    elapsed = figures["duration_us"] / 1e6
    ok = figures["requests"] - figures["status_errors"]
    return {
        "ok": ok,
        "errors": figures["status_errors"] + figures["socket_errors"],
        "elapsed": elapsed,
        "rate": ok / elapsed,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (vodhook's processing worker), from /proc.

    CPU per callback is the figure that does not depend on what else the machine runs: on a shared 2-core
    machine the load generator and the server's processes compete for the same cores, so rates alone mislead.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        pending.extend(int(child) for child in children)
    return total


def pending(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM captures WHERE state = 'pending'").fetchone()[0])


def run(seconds: float, connections: int, tool: str) -> None:
    payloads = bodies()
    assert all("\n" not in payload for payload in payloads)  # wrk's file has one a line
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("bare", "naive"):
            port = free_port()
            url = f"http://127.0.0.1:{port}/callbacks/tencent-vod-v2"
            process = start([sys.executable, "-m", "bench._servers", kind, str(port), str(Path(tmp) / kind)], url)
            try:
                cpu = cpu_seconds(process.pid)
                results[kind] = load(url, seconds, connections, payloads, tool)
                results[kind]["cpu_us"] = (cpu_seconds(process.pid) - cpu) / max(1.0, results[kind]["ok"]) * 1e6
            finally:
                process.terminate()
                process.wait()
        port = free_port()
        data_dir = Path(tmp) / "vodhook"
        url = f"http://127.0.0.1:{port}/callbacks/tencent-vod-v2"
        process = start(
            [sys.executable, "-m", "receiver", "--data-dir", str(data_dir), "serve", "--port", str(port)],
            url,
            env={"VODHOOK_LOG_LEVEL": "warning"},
        )
        try:
            db = data_dir / "vodhook.sqlite3"
            cpu = cpu_seconds(process.pid)
            began = time.perf_counter()
            measured = load(url, seconds, connections, payloads, tool)
            backlog_at_end = pending(db)
            while pending(db):
                time.sleep(0.05)
            drained = time.perf_counter() - began
            measured["cpu_us"] = (cpu_seconds(process.pid) - cpu) / max(1.0, measured["ok"]) * 1e6
            measured["backlog_at_end"] = backlog_at_end
            measured["sustained"] = measured["ok"] / drained
            results["vodhook"] = measured
        finally:
            process.terminate()
            process.wait()
    bare = results["bare"]["rate"]
    naive = results["naive"]["rate"]
    print(
        f"ingest benchmark: {seconds:.0f} s per server, {connections} connections, legacy VOD callbacks,"
        f" load from {'wrk' if tool == 'wrk' else 'bench._load (Python)'}"
    )
    print(
        f"{'server':<10}{'acked/s':>10}{'vs bare':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'CPU µs/cb':>11}{'load µs/cb':>12}"
    )
    for name, result in results.items():
        print(
            f"{name:<10}{result['rate']:>10.0f}{result['rate'] / bare:>9.2f}{result['p50_ms']:>9.1f}"
            f"{result['p99_ms']:>9.1f}{result['errors']:>8.0f}{result['cpu_us']:>11.0f}{result['load_cpu_us']:>12.0f}"
        )
    vodhook = results["vodhook"]
    print(
        f"vodhook sustained (acked and processed, backlog drained): {vodhook['sustained']:.0f}/s = "
        f"{vodhook['sustained'] / bare:.2f}x bare (target >= 0.6), {vodhook['sustained'] / naive:.2f}x naive "
        f"(target >= 3); backlog when the load stopped: {vodhook['backlog_at_end']:.0f}"
    )
    cpu = vodhook["cpu_us"]
    print(
        f"CPU per callback (server processes, all cores; vodhook's includes processing it): vodhook "
        f"{cpu / results['bare']['cpu_us']:.2f}x bare, {cpu / results['naive']['cpu_us']:.2f}x naive"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--load", choices=LOAD_TOOLS, default="auto", help="load generator (default: wrk when installed)"
    )
    args = parser.parse_args()
    run(args.seconds, args.connections, load_tool(args.load))

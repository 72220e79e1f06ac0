"""A small keep-alive HTTP/1.1 load generator, run in its own process: `python -m bench._load URL SECONDS CONNS`.

Reads request bodies from stdin (JSON list of strings), cycles through them, and prints JSON with the count of
2xx answers, errors and latency percentiles. Hand-rolled on asyncio streams because a full client library
would be the bottleneck, not the server under test.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def connection(
    host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    start: int,
    stop_at: float,
    latencies: list[float],
    counts: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = start
    try:
        while time.perf_counter() < stop_at:
            body = bodies[index % len(bodies)]
            index += 1
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            began = time.perf_counter()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            status = int(status_line.split()[1]) if status_line else 0
            counts["ok" if 200 <= status < 300 else "errors"] += 1
    finally:
        writer.close()


async def main(url: str, seconds: float, conns: int, bodies: list[bytes]) -> dict[str, float]:
    parts = urlsplit(url)
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    began = time.perf_counter()
    stop_at = began + seconds
    await asyncio.gather(
        *(
            connection(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                parts.path,
                bodies,
                i * 7919,
                stop_at,
                latencies,
                counts,
            )
            for i in range(conns)
        )
    )
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "ok": counts["ok"],
        "errors": counts["errors"],
        "elapsed": elapsed,
        "rate": counts["ok"] / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
    }


if __name__ == "__main__":
    url, seconds, conns = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    bodies = [b.encode() for b in json.load(sys.stdin)]
    try:  # uvloop (installed with uvicorn[standard]) leaves more of the machine to the server under test
        import uvloop

        result = uvloop.run(main(url, seconds, conns, bodies))
    except ImportError:
        result = asyncio.run(main(url, seconds, conns, bodies))
    print(json.dumps(result))
